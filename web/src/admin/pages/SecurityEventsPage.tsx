import { useState } from 'react';
import { api } from '../../api/client';
import { paths } from '../../api/paths';
import type { SecurityEvent, SecurityEventKind, SecurityEventList } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { fullTime, relativeTime } from '../../lib/durations';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const KINDS: Record<SecurityEventKind, string> = {
  sign_up: 'Sign-up',
  sign_in: 'Sign-in',
  sign_in_failed: 'Failed sign-in',
  lockout: 'Lockout',
  password_changed: 'Password changed',
  token_revoked: 'Sign-in ended',
  admin_action: 'Admin action',
  role_changed: 'Role changed',
  admin_denied: 'Admin access denied',
  account_erased: 'Account erased',
};

export function SecurityEventsPage() {
  const [kind, setKind] = useState('');
  const first = useFetch<SecurityEventList>(paths.adminSecurityEvents({ kind: kind || undefined, limit: 50 }));
  return (
    <>
      <div className="admin-toolbar">
        <div className="field">
          <label htmlFor="event-kind">Kind</label>
          <select id="event-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">All kinds</option>
            {Object.entries(KINDS).map(([id, label]) => (
              <option key={id} value={id}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {first.data ? <Events key={kind} kind={kind} first={first.data} /> : <LoadState res={first} what="the events" />}
    </>
  );
}

function Events({ kind, first }: { kind: string; first: SecurityEventList }) {
  const [more, setMore] = useState<SecurityEvent[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const next = cursor === undefined ? first.next_cursor : cursor;
  const items = [...first.items, ...more];

  async function loadMore() {
    if (!next) return;
    setError(null);
    try {
      const page = await api.get<SecurityEventList>(paths.adminSecurityEvents({ kind: kind || undefined, limit: 50, cursor: next }));
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setError(e);
    }
  }

  if (items.length === 0) return <p>No events{kind ? ' of this kind' : ''}.</p>;
  return (
    <>
      <div className="table-wrap" tabIndex={0} role="region" aria-label="Security events">
        <table className="admin-table" data-testid="security-table">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Outcome</th>
              <th scope="col">User</th>
              <th scope="col">Address</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id}>
                <td className="small">
                  <time dateTime={e.at} title={fullTime(e.at)}>
                    {relativeTime(e.at)}
                  </time>
                </td>
                <th scope="row">{KINDS[e.kind] ?? e.kind}</th>
                <td>
                  <span className={`pill ${e.outcome === 'success' ? 'pill-ok' : 'pill-bad'}`}>{e.outcome === 'success' ? 'Success' : 'Failure'}</span>
                </td>
                <td className="small">{e.user_id ? <code>{e.user_id.slice(0, 8)}</code> : '–'}</td>
                <td className="small">{e.address ?? '–'}</td>
                <td className="small">{e.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {error !== null && <ErrorNotice error={error} onRetry={loadMore} compact />}
      {next && (
        <button type="button" className="button" onClick={loadMore}>
          Show older events
        </button>
      )}
    </>
  );
}
