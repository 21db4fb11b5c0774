import { Component, type ErrorInfo, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import { disarmCrash } from '../lib/crash';
import { SUPPORT_CONTACT } from '../lib/errors';

interface Props {
  /** Which panel this guards, e.g. "chat"; used in the message and for `?crash=`. */
  panel: string;
  label: string;
  children: ReactNode;
}

interface State {
  error: Error | null;
  errorId: string | null;
}

/** Keeps a render error inside one panel: the rest of the page keeps working, and this panel
 * offers "try again", an id to quote and where to get help. */
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
  }

  private reset = () => {
    disarmCrash(this.props.panel);
    this.setState({ error: null, errorId: null });
  };

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="panel-error" role="alert" data-testid={`boundary-${this.props.panel}`}>
        <h2>The {this.props.label} could not be shown</h2>
        <p>Something went wrong in this part of the page. Everything else still works, and nothing you wrote is lost.</p>
        <p>
          <button type="button" className="button" onClick={this.reset}>
            Try again
          </button>
        </p>
        <p className="muted small">
          If it keeps happening, write to <a href={`mailto:${SUPPORT_CONTACT}`}>{SUPPORT_CONTACT}</a> and quote the
          error id <code>{this.state.errorId}</code>.
        </p>
      </div>
    );
  }
}
