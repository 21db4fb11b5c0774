import { Component, type ErrorInfo, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import { disarmCrash } from '../lib/crash';
import { reportError } from '../lib/errorReport';
import { useSupportContact } from '../lib/about';
import { SupportLink } from './SupportLink';

interface Props {
  /** Which panel this guards, e.g. "chat"; used in the message and for `?crash=`. */
  panel: string;
  label: string;
  /** Guards the whole app: the fallback is the page, and it offers a reload. */
  root?: boolean;
  children: ReactNode;
}

interface State {
  error: Error | null;
  errorId: string | null;
}

/** Keeps a render error inside one panel: the rest of the page keeps working, and this panel
 * offers "try again", an id to quote and where to get help. The error is reported to the server
 * with that id. */
export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null, errorId: null };

  static getDerivedStateFromError(error: Error): State {
    const errorId =
      error instanceof ApiError && error.requestId
        ? error.requestId
        : `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    return { error, errorId };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`[plansmith] ${this.props.panel} panel crashed (${this.state.errorId ?? ''})`, error, info.componentStack);
    reportError(error, 'boundary', { errorId: this.state.errorId, componentStack: info.componentStack });
  }

  private reset = () => {
    disarmCrash(this.props.panel);
    this.setState({ error: null, errorId: null });
  };

  render() {
    if (!this.state.error) return this.props.children;
    if (this.props.root) return <AppCrashed errorId={this.state.errorId} />;
    return (
      <div className="panel-error" role="alert" data-testid={`boundary-${this.props.panel}`}>
        <h2>The {this.props.label} could not be shown</h2>
        <p>Something went wrong in this part of the page. Everything else still works, and nothing you wrote is lost.</p>
        <p>
          <button type="button" className="button" onClick={this.reset}>
            Try again
          </button>
        </p>
        <AskSupport errorId={this.state.errorId} />
      </div>
    );
  }
}

/** The whole app failed, its top bar with it: the page becomes this notice, with landmarks and
 * a heading of its own and a reload. What was sent offline waits in IndexedDB (the outbox) and
 * goes out after the reload. */
function AppCrashed({ errorId }: { errorId: string | null }) {
  return (
    <>
      <header className="topbar">
        {/* A full page load, not the app's router: the app is what failed. */}
        <a href="/" className="brand">
          Plansmith
        </a>
      </header>
      <main id="main">
        <div className="panel-error" role="alert" data-testid="boundary-app">
          <h1>Plansmith stopped working on this page</h1>
          <p>
            Something went wrong in the app. Reloading the page usually fixes it. Nothing you already sent is lost: what
            has not reached the server yet waits on this device and goes out after the reload.
          </p>
          <p>
            <button type="button" className="button primary" onClick={() => location.reload()}>
              Reload the page
            </button>
          </p>
          <AskSupport errorId={errorId} />
        </div>
      </main>
    </>
  );
}

function AskSupport({ errorId }: { errorId: string | null }) {
  const contact = useSupportContact();
  return (
    <p className="muted small">
      If it keeps happening, write to <SupportLink contact={contact} /> and quote the error id <code>{errorId}</code>.
    </p>
  );
}
