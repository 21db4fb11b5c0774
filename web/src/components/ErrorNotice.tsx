import { useSupportContact } from '../lib/about';
import { humanError } from '../lib/errors';
import { SupportLink } from './SupportLink';

/** An API or app error as a person reads it: what happened, what to do; the request id only
 * for faults on the server's side (whose hint already names the support contact). */
export function ErrorNotice({ error, onRetry, compact }: { error: unknown; onRetry?: () => void; compact?: boolean }) {
  const e = humanError(error);
  const contact = useSupportContact();
  const hintNamesContact = e.hint.includes('contact') || e.hint.includes(contact);
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
          Request id <code>{e.requestId}</code>
          {hintNamesContact ? '' : <> — quote it to <SupportLink contact={contact} /></>}.
        </p>
      )}
    </div>
  );
}
