import { useEffect, useRef } from 'react';
import { ConnectionBanner } from './components/ConnectionBanner';
import { ErrorBoundary } from './components/ErrorBoundary';
import { Link } from './components/Link';
import { currentUser, signOut } from './lib/auth';
import { useCrashTrigger } from './lib/crash';
import { navigate, parseRoute, PUBLIC_ROUTES, useLocation } from './lib/router';
import { useStore } from './lib/store';
import { AccountPage } from './pages/AccountPage';
import { AuthPage } from './pages/AuthPage';
import { NewSessionPage } from './pages/NewSessionPage';
import { ForgotPasswordPage, ResetPasswordPage, VerifyEmailPage } from './pages/RecoveryPages';
import { SessionsPage } from './pages/SessionsPage';
import { SessionPage } from './session/SessionPage';

export function App() {
  useCrashTrigger('app');
  const where = useLocation();
  const [pathname, search = ''] = where.split('?');
  const route = parseRoute(pathname, search ? `?${search}` : '');
  const user = useStore(currentUser);
  const isAuthPage = route.name === 'signin' || route.name === 'signup';
  // Recovery pages and emailed links work signed in or out, and never redirect.
  const isPublicPage = PUBLIC_ROUTES.has(route.name);

  useEffect(() => {
    if (isPublicPage) return;
    if (user === null && !isAuthPage) navigate(`/signin?next=${encodeURIComponent(where)}`, { replace: true });
    if (user && isAuthPage) navigate(route.next ?? '/', { replace: true });
  }, [user, isAuthPage, isPublicPage, where, route]);

  useEffect(() => {
    if (isAuthPage) document.title = route.name === 'signup' ? 'Create account · Plansmith' : 'Sign in · Plansmith';
  }, [isAuthPage, route.name]);

  // After navigating inside the app, move focus to the new page's heading so keyboard and
  // screen reader users land there (not on the first load: the skip link comes first then).
  const firstPath = useRef(pathname);
  useEffect(() => {
    if (pathname === firstPath.current) return;
    firstPath.current = '';
    const h1 = document.querySelector<HTMLElement>('main h1');
    if (h1 && document.activeElement === document.body) {
      h1.tabIndex = -1;
      h1.focus({ preventScroll: true });
    }
  }, [pathname]);

  return (
    <div className={route.name === 'session' && user ? 'shell shell-app' : 'shell'}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          Plansmith
        </Link>
        {user && (
          <nav aria-label="Main">
            <Link href="/">Sessions</Link>
            <Link href="/sessions/new">New session</Link>
            <Link href="/account">Account</Link>
            <span className="muted small user-email">{user.name || user.email}</span>
            <button type="button" className="button small" onClick={() => void signOut()}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <ConnectionBanner />
      <main id="main" className={route.name === 'session' ? 'wide session-main' : undefined}>
        {route.name === 'forgot-password' ? (
          <ForgotPasswordPage />
        ) : route.name === 'reset-password' ? (
          <ResetPasswordPage key={route.token} token={route.token} />
        ) : route.name === 'verify-email' ? (
          <VerifyEmailPage key={route.token} token={route.token} />
        ) : user === undefined && !isAuthPage ? (
          <p aria-busy="true">Loading…</p>
        ) : isAuthPage ? (
          <AuthPage mode={route.name === 'signup' ? 'signup' : 'signin'} next={route.name === 'signin' || route.name === 'signup' ? route.next : null} />
        ) : !user ? null : route.name === 'sessions' ? (
          <SessionsPage />
        ) : route.name === 'new-session' ? (
          <ErrorBoundary panel="new" label="new session form">
            <NewSessionPage />
          </ErrorBoundary>
        ) : route.name === 'session' ? (
          <SessionPage key={route.id} id={route.id} />
        ) : route.name === 'account' ? (
          <ErrorBoundary panel="account" label="account page">
            <AccountPage />
          </ErrorBoundary>
        ) : (
          <>
            <h1>Page not found</h1>
            <p>
              There is nothing at this address. <Link href="/">Go to your sessions</Link>.
            </p>
          </>
        )}
      </main>
    </div>
  );
}
