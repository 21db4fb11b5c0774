import { useEffect, useRef, useState, type FormEvent } from 'react';
import { signIn, signUp } from '../lib/auth';
import { fieldError, inOtherWords, isApiError } from '../lib/errors';
import { describedBy, FieldNote } from '../components/FieldHelp';
import { navigate } from '../lib/router';
import { codeDigits } from '../lib/twoStep';
import { ErrorNotice } from '../components/ErrorNotice';
import { Link } from '../components/Link';

const FIELD_LABELS = { email: 'The email address', password: 'The password', name: 'The name' };

export function AuthPage({ mode, next }: { mode: 'signin' | 'signup'; next: string | null }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // Two-step sign-in: the server asked for the authenticator app's code.
  const [needsCode, setNeedsCode] = useState(false);
  const [code, setCode] = useState('');
  const codeInput = useRef<HTMLInputElement>(null);
  const isSignUp = mode === 'signup';
  // A refused field (a too-short or too-common password, a malformed email) shows under it.
  const refused = fieldError(error, FIELD_LABELS);
  const noteFor = (field: string) => (refused?.field === field ? `${refused.message} ${refused.hint}`.trim() : null);

  useEffect(() => {
    if (needsCode) codeInput.current?.focus();
  }, [needsCode]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (isSignUp) await signUp(email.trim(), password, name.trim());
      else await signIn(email.trim(), password, needsCode ? codeDigits(code) : undefined);
      navigate(next ?? '/', { replace: true });
    } catch (err) {
      if (isApiError(err, 'mfa_required')) {
        setNeedsCode(true);
      } else if (isApiError(err, 'mfa_invalid')) {
        setCode('');
        setError(inOtherWords(err, 'That code is not right or was already used; wait for the next one.', "If it keeps failing, check that this device's clock is right."));
        codeInput.current?.focus();
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  }

  const other = isSignUp ? '/signin' : '/signup';
  const otherHref = next ? `${other}?next=${encodeURIComponent(next)}` : other;
  return (
    <div className="auth">
      <h1>{isSignUp ? 'Create your Plansmith account' : 'Sign in to Plansmith'}</h1>
      <p className="muted">Plan a software project by talking it through with an AI planning agent.</p>
      <form onSubmit={submit} className="form" aria-describedby={error ? 'auth-error' : undefined}>
        {isSignUp && (
          <div className="field">
            <label htmlFor="name">Name (optional)</label>
            <input
              id="name"
              name="name"
              autoComplete="name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              aria-invalid={noteFor('name') ? true : undefined}
              aria-describedby={describedBy(noteFor('name') && 'name-error')}
            />
            <FieldNote id="name-error" message={noteFor('name')} />
          </div>
        )}
        <div className="field">
          <label htmlFor="email">Email</label>
          <input
            id="email"
            name="email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={noteFor('email') ? true : undefined}
            aria-describedby={describedBy(noteFor('email') && 'email-error')}
          />
          <FieldNote id="email-error" message={noteFor('email')} />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autoComplete={isSignUp ? 'new-password' : 'current-password'}
            required
            minLength={isSignUp ? 8 : undefined}
            aria-invalid={noteFor('password') ? true : undefined}
            aria-describedby={describedBy(noteFor('password') && 'password-error', isSignUp && 'password-help')}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <FieldNote id="password-error" message={noteFor('password')} />
          {isSignUp && (
            <p id="password-help" className="muted small">
              At least 8 characters, and not one of the most common passwords.
            </p>
          )}
          {!isSignUp && (
            <p className="small">
              <Link href="/forgot-password">Forgot your password?</Link>
            </p>
          )}
        </div>
        {needsCode && (
          <div className="field">
            <label htmlFor="totp">Authentication code</label>
            <input
              id="totp"
              name="totp"
              ref={codeInput}
              autoComplete="one-time-code"
              inputMode="numeric"
              pattern="[0-9 ]*"
              maxLength={7}
              required
              aria-describedby="totp-help"
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
            <p id="totp-help" className="muted small">
              This account uses two-step sign-in: type the 6-digit code your authenticator app shows for Plansmith.
            </p>
          </div>
        )}
        {error !== null && !refused && (
          <div id="auth-error">
            <ErrorNotice error={error} />
          </div>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Please wait…' : isSignUp ? 'Create account' : 'Sign in'}
        </button>
      </form>
      <p>
        {isSignUp ? 'Already have an account? ' : 'New to Plansmith? '}
        <a
          href={otherHref}
          onClick={(e) => {
            e.preventDefault();
            navigate(otherHref);
          }}
        >
          {isSignUp ? 'Sign in' : 'Create an account'}
        </a>
      </p>
    </div>
  );
}
