import 'fake-indexeddb/auto';
import { afterEach, expect, it, vi } from 'vitest';
import { forgetPrefetched, prefetch, takePrefetched } from './prefetch';

afterEach(() => {
  forgetPrefetched();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

it('hands a started read to its first reader only, and asks once', async () => {
  const fetch = vi.fn().mockResolvedValue(json({ title: 'Recipe Box' }));
  vi.stubGlobal('fetch', fetch);
  prefetch('/api/v1/sessions/s1');
  prefetch('/api/v1/sessions/s1');
  const first = takePrefetched<{ title: string }>('/api/v1/sessions/s1');
  await expect(first).resolves.toMatchObject({ data: { title: 'Recipe Box' }, fromCache: false });
  expect(takePrefetched('/api/v1/sessions/s1')).toBeUndefined();
  expect(fetch).toHaveBeenCalledTimes(1);
});

it('passes a failure on to whoever takes the read', async () => {
  vi.stubGlobal('fetch', vi.fn().mockResolvedValue(json({ error: { code: 'not_found', message: 'Not found.', hint: '', request_id: 'r' } }, 404)));
  prefetch('/api/v1/sessions/gone');
  await expect(takePrefetched('/api/v1/sessions/gone')).rejects.toMatchObject({ status: 404 });
});

it('does not hand out reads forgotten (that session only) or too old', () => {
  vi.stubGlobal('fetch', vi.fn().mockResolvedValue(json({})));
  vi.useFakeTimers();
  prefetch('/api/v1/sessions/s1');
  prefetch('/api/v1/sessions/s1/messages');
  prefetch('/api/v1/sessions/s10');
  prefetch('/api/v1/sessions/s11');
  forgetPrefetched('/api/v1/sessions/s1');
  expect(takePrefetched('/api/v1/sessions/s1')).toBeUndefined();
  expect(takePrefetched('/api/v1/sessions/s1/messages')).toBeUndefined();
  expect(takePrefetched('/api/v1/sessions/s10')).toBeDefined();
  vi.advanceTimersByTime(11_000);
  expect(takePrefetched('/api/v1/sessions/s11')).toBeUndefined();
});
