import { useState, type FormEvent } from 'react';
import { signIn, signUp } from '../lib/auth';
import { navigate } from '../lib/router';
import { ErrorNotice } from '../components/ErrorNotice';

export function AuthPage({ mode, next }: { mode: 'signin' | 'signup'; next: string | null }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const isSignUp = mode === 'signup';

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (isSignUp) await signUp(email.trim(), password, name.trim());
      else await signIn(email.trim(), password);
      navigate(next ?? '/', { replace: true });
    } catch (err) {
      setError(err);
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
            <input id="name" name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
        )}
        <div className="field">
          <label htmlFor="email">Email</label>
          <input id="email" name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
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
            aria-describedby={isSignUp ? 'password-help' : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          {isSignUp && (
            <p id="password-help" className="muted small">
              At least 8 characters, and not one of the most common passwords.
            </p>
          )}
        </div>
        {error !== null && (
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
