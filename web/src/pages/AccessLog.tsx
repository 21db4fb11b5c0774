// Who accessed the person's data: every read and change of their sessions and account, by them,
// an administrator or Plansmith itself, newest first (the audit trail about them).

import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { AuditEntry, AuditList } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { Link } from '../components/Link';
import { actionWording, actorWording } from '../lib/auditWording';
import { fullTime, relativeTime } from '../lib/durations';

const PAGE = 25;

export function AccessLog() {
  const [items, setItems] = useState<AuditEntry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [news, setNews] = useState('');
  const tableRef = useRef<HTMLDivElement>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const page = await api.get<AuditList>(paths.accessLog({ limit: PAGE }));
      setItems(page.items);
      setNext(page.next_cursor ?? null);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function loadMore() {
    if (!next || busy) return;
    setBusy(true);
    setError(null);
    setNews('');
    try {
      const page = await api.get<AuditList>(paths.accessLog({ limit: PAGE, cursor: next }));
      setItems((have) => [...(have ?? []), ...page.items]);
      setNext(page.next_cursor ?? null);
      const n = page.items.length;
      setNews(`${n === 1 ? '1 older entry' : `${n} older entries`} shown${page.next_cursor ? '' : '; that is all of them'}.`);
      // The button goes with the last page: keep the focus in the log, not lost on the page.
      if (!page.next_cursor) tableRef.current?.focus();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="account-section" aria-labelledby="access-log-heading">
      <h2 id="access-log-heading">Access log</h2>
      <p>
        Every time your planning sessions or your account were opened or changed: by you, by an administrator of Plansmith, or by
        Plansmith itself (its planning agent writing a reply). Addresses are shortened to their network.
      </p>
      {error !== null && <ErrorNotice error={error} onRetry={items === null ? () => void load() : () => void loadMore()} />}
      {items === null && error === null && <p aria-busy="true">Loading your access log…</p>}
      {items !== null && items.length === 0 && <p className="muted">Nothing recorded yet.</p>}
      {items !== null && items.length > 0 && (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Access log entries" ref={tableRef}>
          <table className="access-log" data-testid="access-log">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What</th>
                <th scope="col">Session</th>
                <th scope="col">Network</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.seq} data-testid="access-log-entry" data-action={e.action}>
                  <td className="small">
                    <time dateTime={e.at} title={fullTime(e.at)}>
                      {relativeTime(e.at)}
                    </time>
                  </td>
                  <td>{actorWording(e.actor)}</td>
                  <th scope="row">{actionWording(e.action, e.session_id)}</th>
                  <td className="small">
                    {e.session_id ? (
                      <Link href={`/sessions/${encodeURIComponent(e.session_id)}`}>
                        Session <code>{e.session_id.slice(-8)}</code>
                      </Link>
                    ) : (
                      <span className="muted">–</span>
                    )}
                  </td>
                  <td className="small">{e.network ?? <span className="muted">–</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="small" role="status">
        {news}
      </p>
      {next && (
        <button type="button" className="button" aria-disabled={busy || undefined} onClick={() => void loadMore()}>
          {busy ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
