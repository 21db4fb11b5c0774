// The pages of account recovery, open to anyone: asking for a password-reset link, and the two
// pages the emailed links open (setting a new password, confirming the email address).

import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { PasswordResetConfirm, PasswordResetRequest, VerifyEmailRequest } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { Link } from '../components/Link';
import { currentUser, forgetSignIn } from '../lib/auth';
import { isApiError } from '../lib/errors';
import { useStore } from '../lib/store';

function useTitle(title: string) {
  useEffect(() => {
    document.title = `${title} · Plansmith`;
  }, [title]);
}

/** Asks for a reset link. The answer never says whether an account has that address. */
export function ForgotPasswordPage() {
  useTitle('Reset your password');
  const [email, setEmail] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post(paths.passwordReset(), { email: email.trim() } satisfies PasswordResetRequest);
      setSent(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="auth">
      <h1>Reset your password</h1>
      {sent ? (
        <p className="notice notice-info" role="status">
          If an account exists for that address, we sent a link; it works for 30 minutes.
        </p>
      ) : (
        <>
          <p className="muted">Type the email address of your account and we will send you a link to choose a new password.</p>
          <form onSubmit={submit} className="form" aria-describedby={error ? 'forgot-error' : undefined}>
            <div className="field">
              <label htmlFor="email">Email</label>
              <input id="email" name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </div>
            {error !== null && (
              <div id="forgot-error">
                <ErrorNotice error={error} />
              </div>
            )}
            <button type="submit" className="button primary" disabled={busy}>
              {busy ? 'Please wait…' : 'Send the link'}
            </button>
          </form>
        </>
      )}
      <p>
        <Link href="/signin">Back to sign in</Link>
      </p>
    </div>
  );
}

/** A link that no longer works (used, expired, or cut short): say so and offer a new one. */
function LinkExpired({ what }: { what: string }) {
  return (
    <div className="notice notice-error" role="alert">
      <p className="notice-message">This {what} link was used already or has expired.</p>
      <p className="notice-hint">Each link works once, for a limited time.</p>
    </div>
  );
}

/** `/reset-password?token=…`: choose a new password with the emailed token. */
export function ResetPasswordPage({ token }: { token: string | null }) {
  useTitle('Choose a new password');
  const user = useStore(currentUser);
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [changed, setChanged] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!token) return;
    setBusy(true);
    setError(null);
    try {
      await api.post(paths.confirmPasswordReset(), { token, new_password: password } satisfies PasswordResetConfirm);
      setPassword('');
      setChanged(true);
      // The reset ended every sign-in, this device's too.
      if (user) await forgetSignIn({ stay: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const expired = isApiError(error, 'invalid_token');
  return (
    <div className="auth">
      <h1>Choose a new password</h1>
      {!token ? (
        <div className="notice notice-error" role="alert">
          <p className="notice-message">This link is incomplete: it has no reset code.</p>
          <p className="notice-hint">Open the link from the email again, or copy all of it into the address bar.</p>
        </div>
      ) : changed ? (
        <div className="notice notice-info" role="status">
          <p className="notice-message">Your password is changed.</p>
          <p>Every sign-in of your account was ended, on every device. Sign in again with the new password.</p>
        </div>
      ) : expired ? (
        <LinkExpired what="password reset" />
      ) : (
        <form onSubmit={submit} className="form" aria-describedby={error ? 'reset-error' : undefined}>
          <div className="field">
            <label htmlFor="new-password">New password</label>
            <input
              id="new-password"
              name="new-password"
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              aria-describedby="new-password-help"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
            <p id="new-password-help" className="muted small">
              At least 8 characters, and not one of the most common passwords.
            </p>
          </div>
          {error !== null && (
            <div id="reset-error">
              <ErrorNotice error={error} />
            </div>
          )}
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Please wait…' : 'Change password'}
          </button>
        </form>
      )}
      <p>
        {changed ? (
          <Link href="/signin">Sign in</Link>
        ) : (
          <>
            {!token || expired ? 'Need a new link? ' : 'Link not working? '}
            <Link href="/forgot-password">Ask for a new reset link</Link>
          </>
        )}
      </p>
    </div>
  );
}

/** One verification per token per page load (the page can mount twice: StrictMode, remounts). */
const verifications = new Map<string, Promise<void>>();

function verifyOnce(token: string): Promise<void> {
  let pending = verifications.get(token);
  if (!pending) {
    pending = api.post<void>(paths.verifyEmail(), { token } satisfies VerifyEmailRequest);
    verifications.set(token, pending);
    // A failure may be worth another try (no network); a used token just fails again.
    pending.catch(() => verifications.delete(token));
  }
  return pending;
}

/** `/verify-email?token=…`: confirms the address as soon as it opens. */
export function VerifyEmailPage({ token }: { token: string | null }) {
  useTitle('Confirm your email');
  const user = useStore(currentUser);
  const [state, setState] = useState<'checking' | 'verified' | 'failed'>(token ? 'checking' : 'failed');
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (!token) return;
    let live = true;
    setState('checking');
    verifyOnce(token).then(
      () => live && setState('verified'),
      (err: unknown) => {
        if (!live) return;
        setError(err);
        setState('failed');
      },
    );
    return () => {
      live = false;
    };
  }, [token, attempt]);

  return (
    <div className="auth">
      <h1>Confirm your email</h1>
      {!token ? (
        <div className="notice notice-error" role="alert">
          <p className="notice-message">This link is incomplete: it has no confirmation code.</p>
          <p className="notice-hint">Open the link from the email again, or copy all of it into the address bar.</p>
        </div>
      ) : state === 'checking' ? (
        <p aria-busy="true">Confirming your email address…</p>
      ) : state === 'verified' ? (
        <p className="notice notice-info" role="status">
          Your email address is confirmed. Thank you.
        </p>
      ) : isApiError(error, 'invalid_token') ? (
        <LinkExpired what="confirmation" />
      ) : (
        <ErrorNotice error={error} onRetry={() => setAttempt((a) => a + 1)} />
      )}
      <p>{user ? <Link href="/">Go to your sessions</Link> : <Link href="/signin">Sign in</Link>}</p>
    </div>
  );
}
