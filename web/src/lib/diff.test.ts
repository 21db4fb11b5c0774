import { expect, it } from 'vitest';
import { diffLines } from './diff';

it('marks added and removed lines and keeps the common ones', () => {
  expect(diffLines('a\nb\nc', 'a\nB\nc\nd')).toEqual([
    { kind: 'same', text: 'a' },
    { kind: 'removed', text: 'b' },
    { kind: 'added', text: 'B' },
    { kind: 'same', text: 'c' },
    { kind: 'added', text: 'd' },
  ]);
});

it('handles empty sides', () => {
  expect(diffLines('', 'x')).toEqual([{ kind: 'added', text: 'x' }]);
  expect(diffLines('x', '')).toEqual([{ kind: 'removed', text: 'x' }]);
  expect(diffLines('', '')).toEqual([]);
});
