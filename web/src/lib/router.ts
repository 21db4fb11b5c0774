// A small client-side router over the History API: the app has ten screens.

import { useSyncExternalStore } from 'react';
import { linkToken } from '../api/links';

export type Route =
  | { name: 'signin'; next: string | null }
  | { name: 'signup'; next: string | null }
  | { name: 'sessions' }
  | { name: 'new-session' }
  | { name: 'session'; id: string }
  | { name: 'account' }
  /** The person's plan and billing; Stripe Checkout and the portal send people back here. */
  | { name: 'plans' }
  /** The admin console; `page` is the part after /admin/ (null for /admin itself). */
  | { name: 'admin'; page: string | null }
  | { name: 'forgot-password' }
  /** The pages emailed links open; `token` is null when the link lost it. */
  | { name: 'reset-password'; token: string | null }
  | { name: 'verify-email'; token: string | null }
  | { name: 'not-found' };

/** Pages anyone may open, signed in or not (the emailed links and asking for one). */
export const PUBLIC_ROUTES: ReadonlySet<Route['name']> = new Set(['forgot-password', 'reset-password', 'verify-email']);

export function parseRoute(pathname: string, search = ''): Route {
  const params = new URLSearchParams(search);
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/signin') return { name: 'signin', next: safeNext(params.get('next')) };
  if (path === '/signup') return { name: 'signup', next: safeNext(params.get('next')) };
  if (path === '/' || path === '/sessions') return { name: 'sessions' };
  if (path === '/sessions/new') return { name: 'new-session' };
  if (path === '/account') return { name: 'account' };
  if (path === '/plans') return { name: 'plans' };
  if (path === '/admin') return { name: 'admin', page: null };
  const admin = /^\/admin\/([a-z0-9-]+)$/.exec(path);
  if (admin) return { name: 'admin', page: admin[1] };
  if (path === '/forgot-password') return { name: 'forgot-password' };
  if (path === '/reset-password') return { name: 'reset-password', token: linkToken(search) };
  if (path === '/verify-email') return { name: 'verify-email', token: linkToken(search) };
  const m = /^\/sessions\/([^/]+)$/.exec(path);
  if (m) return { name: 'session', id: decodeURIComponent(m[1]) };
  return { name: 'not-found' };
}

/** The route pattern, never the ids in it: Web Vitals are grouped by this. */
export function routePattern(pathname: string): string {
  const r = parseRoute(pathname);
  switch (r.name) {
    case 'signin':
      return '/signin';
    case 'signup':
      return '/signup';
    case 'sessions':
      return '/sessions';
    case 'new-session':
      return '/sessions/new';
    case 'session':
      return '/sessions/:id';
    case 'account':
      return '/account';
    case 'plans':
      return '/plans';
    case 'admin':
      return r.page ? `/admin/${r.page}` : '/admin';
    case 'forgot-password':
      return '/forgot-password';
    case 'reset-password':
      return '/reset-password';
    case 'verify-email':
      return '/verify-email';
    default:
      return '/other';
  }
}

/** Only same-app paths after sign-in, never another site. */
function safeNext(next: string | null): string | null {
  if (!next || !next.startsWith('/') || next.startsWith('//')) return null;
  return next;
}

const listeners = new Set<() => void>();
let snapshot = typeof location === 'undefined' ? '/' : location.pathname + location.search;

function notify() {
  snapshot = location.pathname + location.search;
  listeners.forEach((l) => l());
}

if (typeof window !== 'undefined') window.addEventListener('popstate', notify);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  notify();
  window.scrollTo(0, 0);
}

export function useLocation(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => snapshot,
    () => snapshot,
  );
}
