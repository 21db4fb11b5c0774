import { expect, it } from 'vitest';
import { parseRoute, routePattern } from './router';

it('parses the app routes', () => {
  expect(parseRoute('/')).toEqual({ name: 'sessions' });
  expect(parseRoute('/sessions/new')).toEqual({ name: 'new-session' });
  expect(parseRoute('/sessions/0192-abc')).toEqual({ name: 'session', id: '0192-abc' });
  expect(parseRoute('/account')).toEqual({ name: 'account' });
  expect(parseRoute('/plans', '?checkout=success')).toEqual({ name: 'plans' });
  expect(routePattern('/plans')).toBe('/plans');
  expect(parseRoute('/signin', '?next=%2Fsessions%2Fx')).toEqual({ name: 'signin', next: '/sessions/x' });
});

it('parses the pages emailed links open, with their token (never in the route pattern)', () => {
  expect(parseRoute('/forgot-password')).toEqual({ name: 'forgot-password' });
  expect(parseRoute('/reset-password', '?token=abc')).toEqual({ name: 'reset-password', token: 'abc' });
  expect(parseRoute('/reset-password')).toEqual({ name: 'reset-password', token: null });
  expect(parseRoute('/verify-email/', '?token=xyz')).toEqual({ name: 'verify-email', token: 'xyz' });
  expect(routePattern('/reset-password')).toBe('/reset-password');
  expect(routePattern('/verify-email')).toBe('/verify-email');
});

it('only follows next= to a path of this app', () => {
  expect(parseRoute('/signin', '?next=https://evil.example')).toEqual({ name: 'signin', next: null });
  expect(parseRoute('/signin', '?next=//evil.example')).toEqual({ name: 'signin', next: null });
});

it('reports route patterns, never ids', () => {
  expect(routePattern('/sessions/01923f6e-1234')).toBe('/sessions/:id');
  expect(routePattern('/')).toBe('/sessions');
  expect(routePattern('/nope/deeper')).toBe('/other');
});

it('parses the admin console and its pages', () => {
  expect(parseRoute('/admin')).toEqual({ name: 'admin', page: null });
  expect(parseRoute('/admin/usage')).toEqual({ name: 'admin', page: 'usage' });
  expect(parseRoute('/admin/usage/x')).toEqual({ name: 'not-found' });
  expect(routePattern('/admin/users')).toBe('/admin/users');
});
