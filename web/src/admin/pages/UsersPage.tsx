import { useState } from 'react';
import { api } from '../../api/client';
import { paths } from '../../api/paths';
import type { Account, AccountChange, AccountList, RevokedSignIns } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { currentUser } from '../../lib/auth';
import { relativeTime } from '../../lib/durations';
import { useStore } from '../../lib/store';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const PLANS = ['free', 'pro', 'team'];

export function UsersPage() {
  const first = useFetch<AccountList>(paths.adminUsers({ limit: 50 }));
  const [more, setMore] = useState<Account[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [changed, setChanged] = useState<Record<string, Account>>({});
  if (!first.data) return <LoadState res={first} what="the accounts" />;
  const next = cursor === undefined ? first.data.next_cursor : cursor;
  const accounts = [...first.data.items, ...more].map((a) => changed[a.id] ?? a);

  async function loadMore() {
    if (!next) return;
    setMoreError(null);
    try {
      const page = await api.get<AccountList>(paths.adminUsers({ limit: 50, cursor: next }));
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setMoreError(e);
    }
  }

  return (
    <>
      <div className="table-wrap" tabIndex={0} role="region" aria-label="Accounts">
        <table className="admin-table" data-testid="users-table">
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">Role</th>
              <th scope="col">Plan override</th>
              <th scope="col">Status</th>
              <th scope="col">Signed up</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {accounts.map((a) => (
              <UserRow key={a.id} account={a} onChanged={(next) => setChanged((c) => ({ ...c, [next.id]: next }))} />
            ))}
          </tbody>
        </table>
      </div>
      {moreError !== null && <ErrorNotice error={moreError} onRetry={loadMore} compact />}
      {next && (
        <button type="button" className="button" onClick={loadMore}>
          Show more accounts
        </button>
      )}
    </>
  );
}

function UserRow({ account: a, onChanged }: { account: Account; onChanged: (a: Account) => void }) {
  const me = useStore(currentUser);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState('');
  const self = me?.id === a.id;
  const who = a.name ? `${a.name} (${a.email})` : a.email;

  async function change(body: AccountChange, done: string) {
    setBusy(true);
    setError(null);
    setNote('');
    try {
      onChanged(await api.put<Account>(paths.adminUser(a.id), body));
      setNote(done);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function revoke() {
    if (!window.confirm(`End every sign-in of ${a.email}? They will have to sign in again.`)) return;
    setBusy(true);
    setError(null);
    try {
      const { revoked } = await api.post<RevokedSignIns>(paths.adminRevokeSignIns(a.id));
      setNote(revoked === 1 ? '1 sign-in ended.' : `${revoked} sign-ins ended.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr data-testid="user-row" data-email={a.email}>
      <th scope="row">
        {a.name && <span>{a.name}</span>} <span className="muted small">{a.email}</span>
        {self && <span className="muted small"> (you)</span>}
      </th>
      <td>
        <select
          aria-label={`Role of ${who}`}
          value={a.role}
          disabled={busy || self}
          onChange={(e) => change({ role: e.target.value }, `Role set to ${e.target.value}.`)}
        >
          <option value="member">member</option>
          <option value="admin">admin</option>
        </select>
      </td>
      <td>
        <select
          aria-label={`Plan override of ${who}`}
          value={a.plan_override ?? ''}
          disabled={busy}
          onChange={(e) => change({ plan: e.target.value || null }, e.target.value ? `Plan set to ${e.target.value}.` : 'Plan override removed.')}
        >
          <option value="">none (billed plan: {a.plan})</option>
          {PLANS.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </td>
      <td>
        <span className={`pill ${a.disabled ? 'pill-bad' : 'pill-ok'}`}>{a.disabled ? 'Disabled' : 'Active'}</span>
      </td>
      <td className="small">{relativeTime(a.created_at)}</td>
      <td>
        <div className="row" style={{ marginTop: 0 }}>
          {!self && (
            <button
              type="button"
              className="button small"
              disabled={busy}
              onClick={() => {
                if (a.disabled || window.confirm(`Disable ${a.email}? They are signed out everywhere and cannot sign in.`))
                  void change({ disabled: !a.disabled }, a.disabled ? 'Account enabled.' : 'Account disabled.');
              }}
            >
              {a.disabled ? 'Enable' : 'Disable'}
            </button>
          )}
          <button type="button" className="button small" disabled={busy} onClick={revoke}>
            End sign-ins
          </button>
        </div>
        <p className="small" role="status">
          {note}
        </p>
        {error !== null && <ErrorNotice error={error} compact />}
      </td>
    </tr>
  );
}
