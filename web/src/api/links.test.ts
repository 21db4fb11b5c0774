import { expect, it } from 'vitest';
import { linkToken } from './links';

it('reads the token of an emailed link, and nothing when it is missing or blank', () => {
  expect(linkToken('?token=abc-123_X')).toBe('abc-123_X');
  expect(linkToken('?token=a%2Bb')).toBe('a+b');
  expect(linkToken('?next=%2F&token=t')).toBe('t');
  expect(linkToken('')).toBeNull();
  expect(linkToken('?token=')).toBeNull();
  expect(linkToken('?token=%20%20')).toBeNull();
});
