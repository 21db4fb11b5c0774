import { expect, it } from 'vitest';
import { codeDigits, groupSecret } from './twoStep';

it('groups a secret in fours, without padding or spaces', () => {
  expect(groupSecret('JBSWY3DPEHPK3PXP')).toBe('JBSW Y3DP EHPK 3PXP');
  expect(groupSecret('jbswy3dpehpk3pxpab==')).toBe('JBSW Y3DP EHPK 3PXP AB');
  expect(groupSecret(' ABCD EFGH ')).toBe('ABCD EFGH');
  expect(groupSecret('')).toBe('');
});

it('keeps only the digits of a typed code', () => {
  expect(codeDigits('123 456')).toBe('123456');
  expect(codeDigits(' 123-456\n')).toBe('123456');
  expect(codeDigits('abc')).toBe('');
});
