import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ErrorBoundary } from './components/ErrorBoundary';
import { currentUser, installUnauthorizedRedirect, loadUser } from './lib/auth';
import { installConnectionWatch } from './lib/connection';
import { dropAllConnections, existingStream, reconnectAll } from './lib/streams';
import { flush, refreshOutbox, setUnauthorizedHandler } from './lib/sync';
import { startVitals } from './lib/vitals';
import './styles.css';

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
});
void loadUser();

// Lets end-to-end tests cut reply streams the way a network failure does, and read the text
// a stream assembled (to compare it with what the server saved).
(window as unknown as { __plansmith: object }).__plansmith = {
  dropStreams: dropAllConnections,
  streamText: (replyId: string) => existingStream(replyId)?.current.text ?? null,
};

if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch((e) => console.warn('[plansmith] service worker not registered', e));
  });
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ErrorBoundary panel="app" label="app">
      <App />
    </ErrorBoundary>
  </StrictMode>,
);
