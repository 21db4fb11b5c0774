import { describe, expect, it } from 'vitest';
import { charCount, countChars } from './limits';

describe('countChars', () => {
  it('stays out of the way far from the limit', () => {
    expect(countChars('short', 200)).toMatchObject({ show: false, over: false, length: 5 });
  });
  it('shows near the limit and says how far over it is', () => {
    expect(countChars('x'.repeat(170), 200)).toMatchObject({ show: true, over: false, text: '170 of 200 characters' });
    expect(countChars('x'.repeat(26_000), 20_000)).toMatchObject({ show: true, over: true, text: '6,000 characters over the limit of 20,000' });
  });
  it('counts characters as the server does, not UTF-16 units', () => {
    expect(charCount('😀😀')).toBe(2);
    expect(countChars('😀'.repeat(200), 200).over).toBe(false);
  });
});
