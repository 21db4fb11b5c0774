import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ErrorBoundary } from './components/ErrorBoundary';
import { loadAbout } from './lib/about';
import { currentUser, installUnauthorizedRedirect, loadUser } from './lib/auth';
import { installConnectionWatch } from './lib/connection';
import { installErrorReporting } from './lib/errorReport';
import { installFlags } from './lib/flags';
import { forgetPrefetched } from './lib/prefetch';
import { parseRoute } from './lib/router';
import { reconnectAll } from './lib/streams';
import { flush, refreshOutbox, setUnauthorizedHandler } from './lib/sync';
import { installTestHooks } from './lib/testHooks';
import { prefetchSession } from './session/prefetch';
import { startVitals } from './lib/vitals';
import './styles.css';

// First, so that an error in what follows is reported too.
installErrorReporting();
installUnauthorizedRedirect();
installConnectionWatch(() => {
  reconnectAll();
  void flush();
});
setUnauthorizedHandler(() => currentUser.set(null));
startVitals();

// Whenever someone is signed in, send what their outbox still holds.
currentUser.subscribe(() => {
  if (currentUser.get()) void refreshOutbox().then(flush);
  // Signed out: reads started for the page must not show after someone signs in.
  if (currentUser.get() === null) forgetPrefetched();
});
// Feature flags follow whoever is signed in (defaults for visitors).
installFlags(currentUser);
// The session page's data goes out with the sign-in check, not after it: a 401 sends the
// person to sign in either way.
const opened = parseRoute(location.pathname);
if (opened.name === 'session') prefetchSession(opened.id);
void loadUser();
// The support contact, the text limits, whether the offline planner answers: once per load.
void loadAbout();

// The e2e build only (`vite build --mode e2e`): Vite replaces MODE with a string at build time,
// so in every other build this is `if (false)` and the hooks are not in the bundle at all.
if (import.meta.env.MODE === 'e2e') installTestHooks();

if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch((e) => console.warn('[plansmith] service worker not registered', e));
  });
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ErrorBoundary panel="app" label="app" root>
      <App />
    </ErrorBoundary>
  </StrictMode>,
);
