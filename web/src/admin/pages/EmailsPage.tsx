import { useState } from 'react';
import { api } from '../../api/client';
import { paths } from '../../api/paths';
import type { Email, EmailList } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { fullTime, relativeTime } from '../../lib/durations';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const KINDS: Record<string, string> = { email_verification: 'Email confirmation', password_reset: 'Password reset', new_sign_in: 'New sign-in' };

function status(e: Email): { text: string; tone: string } {
  if (e.sent_at) return { text: 'Sent', tone: 'pill-ok' };
  if (e.last_error) return { text: `Failing (${e.attempts} ${e.attempts === 1 ? 'try' : 'tries'})`, tone: 'pill-bad' };
  return { text: 'Waiting', tone: 'pill-warn' };
}

export function EmailsPage() {
  const first = useFetch<EmailList>(paths.adminEmails({ limit: 50 }));
  const [more, setMore] = useState<Email[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  if (!first.data) return <LoadState res={first} what="the emails" />;
  const next = cursor === undefined ? first.data.next : cursor;
  const items = [...first.data.items, ...more];

  async function loadMore() {
    if (!next) return;
    setError(null);
    try {
      const page = await api.get<EmailList>(paths.adminEmails({ limit: 50, before: next }));
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next ?? null);
    } catch (e) {
      setError(e);
    }
  }

  if (items.length === 0) return <p>No emails yet.</p>;
  return (
    <>
      <p className="muted small">Links in these emails let someone into the account they were sent to: never pass them on.</p>
      <ul className="cards" data-testid="emails">
        {items.map((e) => {
          const s = status(e);
          return (
            <li key={e.id} className="card">
              <h2>{e.subject}</h2>
              <p className="small">
                <span className={`pill ${s.tone}`}>{s.text}</span> {KINDS[e.kind] ?? e.kind} to {e.to} ·{' '}
                <time dateTime={e.created_at} title={fullTime(e.created_at)}>
                  {relativeTime(e.created_at)}
                </time>
              </p>
              {e.last_error && !e.sent_at && <p className="small">Last error: {e.last_error}</p>}
              <details>
                <summary>Show the text</summary>
                <pre className="email-body">{e.body}</pre>
              </details>
            </li>
          );
        })}
      </ul>
      {error !== null && <ErrorNotice error={error} onRetry={loadMore} compact />}
      {next && (
        <button type="button" className="button" onClick={loadMore}>
          Show older emails
        </button>
      )}
    </>
  );
}
