import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { PasswordChange, SignIn, SignInList } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { forgetSignIn } from '../lib/auth';

/** The signed-in person's account: change the password, see and end sign-ins. */
export function AccountPage() {
  useEffect(() => {
    document.title = 'Your account · Plansmith';
  }, []);
  // Changing the password ends the other sign-ins: the list is read again after it.
  const [version, setVersion] = useState(0);
  return (
    <>
      <h1>Your account</h1>
      <PasswordForm onChanged={() => setVersion((v) => v + 1)} />
      <SignIns version={version} />
    </>
  );
}

function PasswordForm({ onChanged }: { onChanged: () => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      // A wrong current password is a 401 that must not sign this device out.
      await api.post(paths.changePassword(), { current_password: current, new_password: next } satisfies PasswordChange, {
        quiet401: true,
      });
      setCurrent('');
      setNext('');
      setDone(true);
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="account-section" aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={submit} className="form" aria-describedby={error ? 'password-error' : undefined}>
        <div className="field">
          <label htmlFor="current-password">Current password</label>
          <input
            id="current-password"
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="new-password">New password</label>
          <input
            id="new-password"
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            aria-describedby="new-password-help"
            value={next}
            onChange={(e) => setNext(e.target.value)}
          />
          <p id="new-password-help" className="muted small">
            At least 8 characters, and not one of the most common passwords. Your other sign-ins will be signed out.
          </p>
        </div>
        {error !== null && (
          <div id="password-error">
            <ErrorNotice error={error} />
          </div>
        )}
        {done && (
          <p className="notice notice-info" role="status">
            Password changed. Every other device was signed out.
          </p>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Please wait…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}

function SignIns({ version }: { version: number }) {
  const [items, setItems] = useState<SignIn[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    setError(null);
    try {
      setItems((await api.get<SignInList>(paths.signIns())).items);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load, version]);

  async function revoke(signIn: SignIn) {
    setBusy(true);
    setError(null);
    try {
      await api.delete(paths.signIn(signIn.id));
      if (signIn.current) await forgetSignIn();
      else await load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function revokeAll() {
    setBusy(true);
    setError(null);
    try {
      await api.post(paths.revokeAllSignIns());
      await forgetSignIn();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <section className="account-section" aria-labelledby="sign-ins-heading">
      <h2 id="sign-ins-heading">Where you are signed in</h2>
      {error !== null && <ErrorNotice error={error} onRetry={() => void load()} />}
      {items === null && error === null && <p aria-busy="true">Loading your sign-ins…</p>}
      {items !== null && (
        <ul className="session-list">
          {items.map((s) => (
            <li key={s.id} className="session-card">
              <p>
                <strong>{s.user_agent || 'Unknown device'}</strong>
                {s.current && <span className="badge badge-drafting"> This device</span>}
              </p>
              <p className="muted small">
                From {s.address || 'an unknown address'} · signed in {when(s.created_at)} · last used {when(s.last_used_at)}
              </p>
              <button type="button" className="button small" disabled={busy} onClick={() => void revoke(s)}>
                {s.current ? 'Sign out here' : 'Sign out this device'}
              </button>
            </li>
          ))}
        </ul>
      )}
      <button type="button" className="button" disabled={busy} onClick={() => void revokeAll()}>
        Sign out everywhere
      </button>
    </section>
  );
}

function when(iso: string): string {
  return new Date(iso).toLocaleString();
}
