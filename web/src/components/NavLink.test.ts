import { expect, it } from 'vitest';
import { isCurrent } from './NavLink';

it('marks the section of the page shown, and only that one', () => {
  expect(isCurrent('/', '/')).toBe(true);
  expect(isCurrent('/', '/sessions/abc')).toBe(true);
  expect(isCurrent('/', '/sessions/new')).toBe(false);
  expect(isCurrent('/sessions/new', '/sessions/new')).toBe(true);
  expect(isCurrent('/account', '/account/')).toBe(true);
  expect(isCurrent('/admin', '/admin/usage')).toBe(true);
  expect(isCurrent('/admin', '/administrator')).toBe(false);
  expect(isCurrent('/account', '/')).toBe(false);
});
