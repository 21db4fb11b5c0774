import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { paths } from '../../api/paths';
import type { AuditEntry, AuditList } from '../../api/types';
import { describedBy, FieldNote } from '../../components/FieldHelp';
import { ErrorNotice } from '../../components/ErrorNotice';
import { KNOWN_ACTIONS } from '../../lib/auditWording';
import { fullTime, relativeTime } from '../../lib/durations';
import { fieldError } from '../../lib/errors';
import { auditQuery, NO_FILTERS, type AuditFilters, type AuditQuery, type FilterProblems } from '../auditQuery';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const PAGE = 50;

/** The filters, by the query parameter the server names when it refuses one. */
const FIELDS: { key: keyof AuditFilters; label: string; type: 'text' | 'datetime-local'; placeholder?: string }[] = [
  { key: 'user', label: 'User id', type: 'text', placeholder: 'whose data' },
  { key: 'session', label: 'Session id', type: 'text' },
  { key: 'action', label: 'Action', type: 'text', placeholder: 'e.g. sessions.read' },
  { key: 'from', label: 'From', type: 'datetime-local' },
  { key: 'to', label: 'To', type: 'datetime-local' },
];
const LABELS: Record<string, string> = Object.fromEntries(FIELDS.map((f) => [f.key, f.label]));
const inputId = (key: string) => `audit-${key}`;

/** The audit trail: every read and change of someone's data, every admin action and the
 * platform's own changes, newest first; filters combine. */
export function AuditPage() {
  const [draft, setDraft] = useState<AuditFilters>(NO_FILTERS);
  const [applied, setApplied] = useState<AuditQuery>({});
  const [problems, setProblems] = useState<FilterProblems>({});
  const path = paths.adminAudit({ ...applied, limit: PAGE });
  const first = useFetch<AuditList>(path);
  // The server's refusal of one filter (400 `invalid_query` with `error.field`), shown under it.
  const refused = fieldError(first.error, LABELS, ['invalid_query', 'invalid_field']);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  useEffect(() => {
    if (refused) document.getElementById(inputId(refused.field))?.focus();
  }, [refused?.field, refused?.message]);

  function apply(next: AuditFilters) {
    const { query, problems: found } = auditQuery(next);
    setProblems(found);
    const wrong = FIELDS.find((f) => found[f.key]);
    if (wrong) {
      document.getElementById(inputId(wrong.key))?.focus();
      return;
    }
    // The same filters again: read them again (new entries since).
    if (paths.adminAudit({ ...query, limit: PAGE }) === path) first.reload();
    else setApplied(query);
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    apply(draft);
  }

  function clear() {
    setDraft(NO_FILTERS);
    apply(NO_FILTERS);
  }

  const note = (key: keyof AuditFilters): string | null =>
    problems[key] ?? (refused?.field === key ? [refused.message, refused.hint].filter(Boolean).join(' ') : null);
  const filtered = Object.keys(applied).length > 0;

  return (
    <>
      <form className="admin-toolbar audit-filters" onSubmit={submit} aria-label="Filter the audit trail" noValidate>
        {FIELDS.map((f) => {
          const id = inputId(f.key);
          const message = note(f.key);
          return (
            <div className="field" key={f.key}>
              <label htmlFor={id}>{f.label}</label>
              <input
                id={id}
                type={f.type}
                value={draft[f.key]}
                placeholder={f.placeholder}
                list={f.key === 'action' ? 'audit-actions' : undefined}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => setDraft((d) => ({ ...d, [f.key]: e.target.value }))}
                aria-invalid={message ? true : undefined}
                aria-describedby={describedBy(f.type === 'datetime-local' && 'audit-zone', message && `${id}-error`)}
              />
              <FieldNote id={`${id}-error`} message={message} />
            </div>
          );
        })}
        <datalist id="audit-actions">
          {KNOWN_ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <div className="row">
          <button type="submit" className="button primary">
            Show entries
          </button>
          <button type="button" className="button" onClick={clear}>
            Clear filters
          </button>
        </div>
        <p id="audit-zone" className="muted small audit-zone">
          Times are in your time zone ({zone}).
        </p>
      </form>
      {refused ? (
        <p className="muted">Change the filter marked above to see entries.</p>
      ) : first.data ? (
        <Entries key={path} query={applied} first={first.data} filtered={filtered} />
      ) : (
        <LoadState res={first} what="the audit trail" />
      )}
    </>
  );
}

function Entries({ query, first, filtered }: { query: AuditQuery; first: AuditList; filtered: boolean }) {
  const [more, setMore] = useState<AuditEntry[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const next = cursor === undefined ? first.next_cursor : cursor;
  const items = [...first.items, ...more];

  async function loadMore() {
    if (!next || busy) return;
    setBusy(true);
    setError(null);
    try {
      const page = await api.get<AuditList>(paths.adminAudit({ ...query, limit: PAGE, cursor: next }));
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  if (items.length === 0) return <p>No entries{filtered ? ' match these filters' : ' yet'}.</p>;
  return (
    <>
      <div className="table-wrap" tabIndex={0} role="region" aria-label="Audit entries">
        <table className="admin-table audit-table" data-testid="audit-table">
          <thead>
            <tr>
              <th scope="col" className="num">
                Seq
              </th>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Actor id</th>
              <th scope="col">Action</th>
              <th scope="col">User id</th>
              <th scope="col">Session id</th>
              <th scope="col">Object</th>
              <th scope="col">Network</th>
              <th scope="col">Request id</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.seq} data-testid="audit-entry" data-action={e.action}>
                <th scope="row" className="num">
                  {e.seq}
                </th>
                <td className="small">
                  <time dateTime={e.at} title={fullTime(e.at)}>
                    {relativeTime(e.at)}
                  </time>
                </td>
                <td>
                  <span className={`pill ${e.actor === 'admin' ? 'pill-warn' : e.actor === 'system' ? 'pill-off' : 'pill-ok'}`}>{e.actor}</span>
                </td>
                <td className="small">{id(e.actor_id)}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td className="small">{id(e.user_id)}</td>
                <td className="small">{id(e.session_id)}</td>
                <td className="small">{id(e.object)}</td>
                <td className="small">{e.network ?? '–'}</td>
                <td className="small">{id(e.request_id)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {error !== null && <ErrorNotice error={error} onRetry={loadMore} compact />}
      {next && (
        <button type="button" className="button" aria-disabled={busy || undefined} onClick={loadMore}>
          {busy ? 'Loading…' : 'Show older entries'}
        </button>
      )}
    </>
  );
}

function id(value: string | null | undefined) {
  return value ? <code>{value}</code> : '–';
}
