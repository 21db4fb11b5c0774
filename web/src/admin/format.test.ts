import { expect, it } from 'vitest';
import { count, money, ms, percent } from './format';

it('formats money from integer micro-dollars', () => {
  expect(money(0)).toBe('$0');
  expect(money(4_200)).toBe('$0.0042');
  expect(money(12_345_678)).toBe('$12.35');
  expect(money(1_234_000_000)).toBe('$1,234.00');
});

it('formats counts, shares and durations', () => {
  expect(count(999)).toBe('999');
  expect(count(12_300)).toBe('12.3k');
  expect(count(1_250_000)).toBe('1.25M');
  expect(percent(0)).toBe('0%');
  expect(percent(0.0004)).toBe('<0.1%');
  expect(percent(0.034)).toBe('3.4%');
  expect(percent(0.5)).toBe('50%');
  expect(ms(null)).toBe('–');
  expect(ms(850)).toBe('850 ms');
  expect(ms(2_340)).toBe('2.3 s');
});
