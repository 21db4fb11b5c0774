import { expect, it } from 'vitest';
import { cents, centsShort, count, hours, money, ms, percent, seconds, share, signedPercent } from './format';

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

it('formats integer cents in their own currency, never converted', () => {
  expect(cents(203200, 'usd')).toBe('$2,032.00');
  expect(cents(-8000, 'eur')).toBe('-€80.00');
  expect(cents(11400, 'gbp')).toBe('£114.00');
  expect(cents(null, 'usd')).toBe('–');
  expect(cents(1234, 'not a code')).toBe('12.34 NOT A CODE');
  expect(centsShort(203200, 'usd')).toBe('$2K');
  expect(centsShort(24384000, 'usd')).toBe('$243.8K');
});

it('formats changes, shares that may be missing, hours and seconds', () => {
  expect(signedPercent(0.1234)).toBe('+12%');
  expect(signedPercent(0.032)).toBe('+3.2%');
  expect(signedPercent(-0.05)).toBe('−5.0%');
  expect(signedPercent(0)).toBe('0%');
  expect(signedPercent(null)).toBe('–');
  expect(share(null)).toBe('–');
  expect(share(0.0833)).toBe('8.3%');
  expect(share(1.6)).toBe('160%');
  expect(share(-0.6)).toBe('−60%');
  expect(hours(0.0018)).toBe('<1 min');
  expect(hours(0.5)).toBe('30 min');
  expect(hours(1.5)).toBe('1.5 h');
  expect(hours(12)).toBe('12 h');
  expect(hours(undefined)).toBe('–');
  expect(seconds(42)).toBe('42 s');
  expect(seconds(600)).toBe('10 min');
  expect(seconds(5400)).toBe('1.5 h');
  expect(seconds(3 * 86_400)).toBe('3 d');
  expect(seconds(null)).toBe('–');
});
