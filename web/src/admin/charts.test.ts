import { expect, it } from 'vitest';
import { barLengths, niceMax } from './charts';

it('rounds the scale up to a readable number', () => {
  expect(niceMax(0)).toBe(1);
  expect(niceMax(0.87)).toBe(1);
  expect(niceMax(3.2)).toBe(4);
  expect(niceMax(430)).toBe(500);
  expect(niceMax(1000)).toBe(1000);
  expect(niceMax(1001)).toBe(2000);
});

it('draws bars in proportion, the largest within the width', () => {
  expect(barLengths([50, 100, 0], 200)).toEqual([100, 200, 0]);
  const lengths = barLengths([430, 215], 100);
  expect(lengths[0]).toBeCloseTo(86);
  expect(lengths[1]).toBeCloseTo(43);
  expect(barLengths([], 100)).toEqual([]);
});
