import { expect, it } from 'vitest';
import { backoffDelay } from './backoff';

it('doubles from half a second up to a 15 second cap, with bounded jitter', () => {
  const mid = () => 0.5;
  expect([1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, mid))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
  expect(backoffDelay(1, () => 0)).toBe(375);
  expect(backoffDelay(1, () => 0.999)).toBeLessThanOrEqual(625);
});
