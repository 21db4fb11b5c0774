import { humanError, SUPPORT_CONTACT } from '../lib/errors';

/** An API or app error as a person reads it: what happened, what to do, the id for support. */
export function ErrorNotice({ error, onRetry, compact }: { error: unknown; onRetry?: () => void; compact?: boolean }) {
  const e = humanError(error);
  return (
    <div className={compact ? 'notice notice-error compact' : 'notice notice-error'} role="alert">
      <p className="notice-message">{e.message}</p>
      {e.hint && <p className="notice-hint">{e.hint}</p>}
      {onRetry && (
        <button type="button" className="button small" onClick={onRetry}>
          Try again
        </button>
      )}
      {e.requestId && (
        <p className="muted small">
          Request id <code>{e.requestId}</code> — quote it to <a href={`mailto:${SUPPORT_CONTACT}`}>{SUPPORT_CONTACT}</a>.
        </p>
      )}
    </div>
  );
}
