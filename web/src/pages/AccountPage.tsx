import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { DisableTotp, MfaStatus, PasswordChange, SignIn, SignInList, TotpCode, TotpEnrolment } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { forgetSignIn } from '../lib/auth';
import { codeDigits, groupSecret } from '../lib/twoStep';
import { AccessLog } from './AccessLog';
import { Consents, DataExport, EraseAccount } from './AccountData';

/** The signed-in person's account: change the password, two-step sign-in, see and end sign-ins;
 * download their data, see who accessed it, give or withdraw consents, erase the account. */
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
      <TwoStep />
      <SignIns version={version} />
      <DataExport />
      <AccessLog />
      <Consents />
      <EraseAccount />
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

/** Two-step sign-in with an authenticator app (TOTP): turn it on (enrol, then confirm with a
 * code) or off (with the password and a code). */
function TwoStep() {
  const [status, setStatus] = useState<MfaStatus | null>(null);
  const [enrolment, setEnrolment] = useState<TotpEnrolment | null>(null);
  const [turningOff, setTurningOff] = useState(false);
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [news, setNews] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    setError(null);
    try {
      setStatus(await api.get<MfaStatus>(paths.mfa()));
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function act(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    setNews(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  function reset() {
    setEnrolment(null);
    setTurningOff(false);
    setCode('');
    setPassword('');
    setError(null);
  }

  const start = () =>
    act(async () => {
      setEnrolment(await api.post<TotpEnrolment>(paths.totp()));
      setCode('');
    });

  const confirm = (e: FormEvent) => {
    e.preventDefault();
    return act(async () => {
      await api.post(paths.confirmTotp(), { code: codeDigits(code) } satisfies TotpCode);
      reset();
      setNews('Two-step sign-in is on. From now on, signing in asks for a code from your authenticator app.');
      await load();
    });
  };

  const turnOff = (e: FormEvent) => {
    e.preventDefault();
    // A wrong password is a 401 that must not sign this device out.
    return act(async () => {
      await api.delete(paths.totp(), { quiet401: true }, { password, code: codeDigits(code) } satisfies DisableTotp);
      reset();
      setNews('Two-step sign-in is off. Signing in asks only for your password.');
      await load();
    });
  };

  const codeField = (id: string) => (
    <div className="field">
      <label htmlFor={id}>Code from the app</label>
      <input
        id={id}
        autoComplete="one-time-code"
        inputMode="numeric"
        pattern="[0-9 ]*"
        maxLength={7}
        required
        value={code}
        onChange={(e) => setCode(e.target.value)}
      />
    </div>
  );

  /** The error of the form (if any), its submit button and Cancel. */
  const formEnd = (submitLabel: string) => (
    <>
      {error !== null && (
        <div id="two-step-error">
          <ErrorNotice error={error} />
        </div>
      )}
      <div className="row">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Please wait…' : submitLabel}
        </button>
        <button type="button" className="button" disabled={busy} onClick={reset}>
          Cancel
        </button>
      </div>
    </>
  );

  return (
    <section className="account-section" aria-labelledby="two-step-heading">
      <h2 id="two-step-heading">Two-step sign-in</h2>
      {status === null && error === null && <p aria-busy="true">Loading…</p>}
      {status !== null && (
        <p>
          {status.totp_enabled
            ? 'On: signing in asks for your password and a code from your authenticator app.'
            : 'Off: signing in asks only for your password. Turn it on to also ask for a code from an authenticator app on your phone.'}
        </p>
      )}
      {news && (
        <p className="notice notice-info" role="status">
          {news}
        </p>
      )}
      {enrolment ? (
        <form onSubmit={confirm} className="form" aria-describedby={error ? 'two-step-error' : undefined}>
          <p>
            Add Plansmith to your authenticator app: on the device with the app,{' '}
            <a href={enrolment.otpauth_uri}>open this link in the app</a>, or type this key into it:
          </p>
          <p>
            <code className="totp-secret">
              {groupSecret(enrolment.secret)}
            </code>
          </p>
          <p className="muted small">The key is shown only now. Then type the 6-digit code the app shows.</p>
          {codeField('totp-confirm-code')}
          {formEnd('Confirm and turn on')}
        </form>
      ) : turningOff ? (
        <form onSubmit={turnOff} className="form" aria-describedby={error ? 'two-step-error' : undefined}>
          <div className="field">
            <label htmlFor="totp-off-password">Password</label>
            <input
              id="totp-off-password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          {codeField('totp-off-code')}
          {formEnd('Turn off two-step sign-in')}
        </form>
      ) : (
        <>
          {error !== null && <ErrorNotice error={error} onRetry={status === null ? () => void load() : undefined} />}
          {status?.totp_enabled ? (
            <button
              type="button"
              className="button"
              disabled={busy}
              onClick={() => {
                reset();
                setNews(null);
                setTurningOff(true);
              }}
            >
              Turn off
            </button>
          ) : (
            status !== null && (
              <button type="button" className="button" disabled={busy} onClick={() => void start()}>
                Turn on
              </button>
            )
          )}
        </>
      )}
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
