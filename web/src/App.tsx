import { lazy, Suspense, useEffect, useRef } from 'react';
import { BillingBanner } from './components/BillingBanner';
import { ConnectionBanner } from './components/ConnectionBanner';
import { ErrorBoundary } from './components/ErrorBoundary';
import { IncidentBanners } from './components/IncidentBanners';
import { Link } from './components/Link';
import { NavLink } from './components/NavLink';
import { currentUser, signOut } from './lib/auth';
import { useCrashTrigger } from './lib/crash';
import { navigate, parseRoute, PUBLIC_ROUTES, useLocation } from './lib/router';
import { useStore } from './lib/store';
import { AccountPage } from './pages/AccountPage';
import { AuthPage } from './pages/AuthPage';
import { NewSessionPage } from './pages/NewSessionPage';
import { LandingPage } from './pages/LandingPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { ForgotPasswordPage, ResetPasswordPage, VerifyEmailPage } from './pages/RecoveryPages';
import { SessionsPage } from './pages/SessionsPage';
import { SessionPage } from './session/SessionPage';

// The admin console is a chunk of its own, loaded only when an admin opens it.
const AdminConsole = lazy(() => import('./admin/AdminConsole'));
// The Plans page too: most visits never open it.
const PlansPage = lazy(() => import('./pages/PlansPage'));

export function App() {
  useCrashTrigger('app');
  const where = useLocation();
  const [pathname, search = ''] = where.split('?');
  const route = parseRoute(pathname, search ? `?${search}` : '');
  const user = useStore(currentUser);
  const isAuthPage = route.name === 'signin' || route.name === 'signup';
  // Recovery pages and emailed links work signed in or out, and never redirect.
  const isPublicPage = PUBLIC_ROUTES.has(route.name);
  // Visitors get the front page at / and a not-found page anywhere unknown, not the sign-in page.
  const isLanding = user === null && pathname.replace(/\/+$/, '') === '';
  const isOpenPage = isPublicPage || isLanding || route.name === 'not-found';

  useEffect(() => {
    if (isOpenPage) return;
    if (user === null && !isAuthPage) navigate(`/signin?next=${encodeURIComponent(where)}`, { replace: true });
    if (user && isAuthPage) navigate(route.next ?? '/', { replace: true });
  }, [user, isAuthPage, isOpenPage, where, route]);

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
            <NavLink href="/">Sessions</NavLink>
            <NavLink href="/sessions/new">New session</NavLink>
            <NavLink href="/account">Account</NavLink>
            <NavLink href="/plans">Plans</NavLink>
            {user.role === 'admin' && <NavLink href="/admin">Admin</NavLink>}
            <span className="muted small user-email">{user.name || user.email}</span>
            <button type="button" className="button small" onClick={() => void signOut()}>
              Sign out
            </button>
          </nav>
        )}
        {user === null && !isAuthPage && (
          <nav aria-label="Main">
            <NavLink href="/signin">Sign in</NavLink>
            <NavLink href="/signup">Create an account</NavLink>
          </nav>
        )}
      </header>
      <ConnectionBanner />
      {/* Incident notices for the signed-in person, on every page; asked for again per person. */}
      {user && (
        <ErrorBoundary panel="incidents" label="service notices">
          <IncidentBanners key={user.id} />
        </ErrorBoundary>
      )}
      {/* A failed or overdue payment, on every page; read again per person. */}
      {user && (
        <ErrorBoundary panel="billing" label="payment notice">
          <BillingBanner key={user.id} />
        </ErrorBoundary>
      )}
      <main id="main" className={route.name === 'session' ? 'wide session-main' : route.name === 'admin' ? 'wide' : undefined}>
        {route.name === 'forgot-password' ? (
          <ForgotPasswordPage />
        ) : route.name === 'reset-password' ? (
          <ResetPasswordPage key={route.token} token={route.token} />
        ) : route.name === 'verify-email' ? (
          <VerifyEmailPage key={route.token} token={route.token} />
        ) : user === undefined && !isAuthPage ? (
          <p aria-busy="true">Loading…</p>
        ) : isLanding ? (
          <LandingPage />
        ) : route.name === 'not-found' ? (
          <NotFoundPage signedIn={!!user} />
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
        ) : route.name === 'plans' ? (
          <ErrorBoundary panel="plans" label="plans page">
            <Suspense fallback={<p aria-busy="true">Loading…</p>}>
              <PlansPage />
            </Suspense>
          </ErrorBoundary>
        ) : route.name === 'admin' ? (
          user.role === 'admin' ? (
            <ErrorBoundary panel="admin" label="admin console">
              <Suspense fallback={<p aria-busy="true">Loading the admin console…</p>}>
                <AdminConsole page={route.page} />
              </Suspense>
            </ErrorBoundary>
          ) : (
            <NotFoundPage signedIn />
          )
        ) : (
          <NotFoundPage signedIn />
        )}
      </main>
    </div>
  );
}
