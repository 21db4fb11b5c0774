import { expect, it } from 'vitest';
import { RumBatch } from './vitals';

it('batches metrics with the route pattern as page and sends them in one body', () => {
  const sent: string[] = [];
  const batch = new RumBatch((body) => sent.push(body));
  batch.add({ name: 'LCP', value: 812.5, id: 'v1' }, '/sessions/0192-secret-id');
  batch.add({ name: 'CLS', value: 0.01, id: 'v2' }, '/');
  batch.flush();
  batch.flush();
  expect(sent).toHaveLength(1);
  expect(JSON.parse(sent[0])).toEqual([
    { page: '/sessions/:id', name: 'LCP', value: 812.5, id: 'v1' },
    { page: '/sessions', name: 'CLS', value: 0.01, id: 'v2' },
  ]);
});
