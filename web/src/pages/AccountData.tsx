// The person's rights over their data on the Account page: a copy of all of it, the consents
// they gave (withdrawn as easily as given), and erasing the account for good.

import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { paths } from '../api/paths';
import type { ConsentNotice, Consents as ConsentList } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { eraseAccount } from '../lib/auth';
import { changeConsent, CONSENTS_ANCHOR, rememberConsents } from '../lib/consent';
import { isApiError } from '../lib/errors';

export function DataExport() {
  return (
    <section className="account-section" aria-labelledby="export-heading">
      <h2 id="export-heading">Your data</h2>
      <p>One file with your account, every session with its messages, every revision of every document, your model usage and consents.</p>
      <a className="button" href={paths.exportMyData()} download>
        Download all my data (JSON)
      </a>
    </section>
  );
}

const KIND_NAMES: Record<string, string> = { llm_processing: 'Processing by AI model providers', product_research: 'Product research' };
/** Consents given or withdrawn with a switch rather than a button. */
const SWITCHED = new Set(['product_research']);

function kindName(kind: string): string {
  return KIND_NAMES[kind] ?? kind.replace(/_/g, ' ');
}

export function Consents() {
  const [data, setData] = useState<ConsentList | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // The answer being recorded: a switch shows it at once, and goes back if it fails.
  const [pending, setPending] = useState<{ kind: string; given: boolean } | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const answer = await api.get<ConsentList>(paths.consents());
      // What the session page asks by, too: a consent withdrawn here is asked for again there.
      rememberConsents(answer);
      setData(answer);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // Opened from the consent notice's link (`#consents`): show this section and start here.
  const loaded = data !== null;
  useEffect(() => {
    if (!loaded || location.hash !== `#${CONSENTS_ANCHOR}`) return;
    heading.current?.scrollIntoView?.({ block: 'start' });
    heading.current?.focus({ preventScroll: true });
  }, [loaded]);

  async function change(notice: ConsentNotice, given: boolean) {
    setBusy(true);
    setPending({ kind: notice.kind, given });
    setError(null);
    try {
      setData(await changeConsent(notice.kind, given));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setPending(null);
    }
  }

  return (
    <section className="account-section" id={CONSENTS_ANCHOR} aria-labelledby="consents-heading">
      <h2 id="consents-heading" tabIndex={-1} ref={heading}>
        Consents
      </h2>
      {error !== null && <ErrorNotice error={error} onRetry={data === null ? () => void load() : undefined} />}
      {data === null && error === null && <p aria-busy="true">Loading your consents…</p>}
      {data !== null && (
        <>
          <ul className="session-list">
            {data.notices.map((n) => (
              <li key={n.kind} className="session-card" data-testid={`consent-${n.kind}`}>
                <h3>{kindName(n.kind)}</h3>
                <p id={`consent-text-${n.kind}`}>{n.text}</p>
                <p className="muted small">
                  Version {n.version}: <strong>{n.given ? 'you gave your consent' : 'not given'}</strong>
                </p>
                {SWITCHED.has(n.kind) ? (
                  <label className="field-check">
                    <input type="checkbox" role="switch" checked={pending?.kind === n.kind ? pending.given : n.given}
                      disabled={busy}
                      aria-describedby={`consent-text-${n.kind}`} onChange={(e) => void change(n, e.target.checked)} />
                    {`Allow ${kindName(n.kind).toLowerCase()}`}
                  </label>
                ) : (
                  <button type="button" className="button small" disabled={busy} onClick={() => void change(n, !n.given)}>
                    {n.given ? 'Withdraw consent' : 'Give consent'}
                  </button>
                )}
              </li>
            ))}
          </ul>
          <h3>History</h3>
          {data.items.length === 0 ? (
            <p className="muted">You have not given any consent yet.</p>
          ) : (
            <ul data-testid="consent-history">
              {data.items.map((c) => (
                <li key={c.id}>
                  {kindName(c.kind)} (version {c.version}): given {when(c.given_at)}
                  {c.withdrawn_at ? `, withdrawn ${when(c.withdrawn_at)}` : ', stands'}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

export function EraseAccount() {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [confirmed, setConfirmed] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  function cancel() {
    setOpen(false);
    setPassword('');
    setConfirmed(false);
    setError(null);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await eraseAccount(password);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  // A wrong password belongs under the password field; anything else to the whole form.
  const wrongPassword = isApiError(error, 'invalid_credentials') ? (error as ApiError) : null;
  const formError = error !== null && wrongPassword === null ? error : null;

  return (
    <section className="account-section" aria-labelledby="erase-heading">
      <h2 id="erase-heading">Account deletion</h2>
      {!open ? (
        <>
          <p>Erases your sessions, documents and account. It cannot be undone: download your data first if you want to keep it.</p>
          <button type="button" className="button danger" onClick={() => setOpen(true)}>
            Delete my account…
          </button>
        </>
      ) : (
        <form onSubmit={submit} className="form" aria-describedby={formError !== null ? 'erase-error' : undefined}>
          <div className="field">
            <label htmlFor="erase-password">Your password</label>
            <input
              id="erase-password"
              type="password"
              autoComplete="current-password"
              required
              aria-invalid={wrongPassword !== null}
              aria-describedby={wrongPassword !== null ? 'erase-password-error' : undefined}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
            {wrongPassword !== null && (
              <p id="erase-password-error" className="field-error" role="alert">
                That is not your password. Nothing was erased.
              </p>
            )}
          </div>
          <div className="field field-check">
            <input id="erase-confirm" type="checkbox" required checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} />
            <label htmlFor="erase-confirm">This erases your sessions, documents and account for good.</label>
          </div>
          {formError !== null && (
            <div id="erase-error">
              <ErrorNotice error={formError} />
            </div>
          )}
          <div className="row">
            <button type="submit" className="button danger" disabled={busy}>
              {busy ? 'Please wait…' : 'Delete my account for good'}
            </button>
            <button type="button" className="button" disabled={busy} onClick={cancel}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function when(iso: string): string {
  return new Date(iso).toLocaleString();
}
