import { useEffect, useRef, useState, type FormEvent } from 'react';
import { incidentPaths, incidentsApi, SEVERITIES, type Incident, type IncidentDetail, type IncidentList, type Severity } from '../../api/incidents';
import { CharCounter, describedBy, FieldNote } from '../../components/FieldHelp';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Link } from '../../components/Link';
import { currentUser } from '../../lib/auth';
import { fullTime, relativeTime } from '../../lib/durations';
import { fieldError } from '../../lib/errors';
import { parseUserIds, SEVERITY_HELP, severityName } from '../../lib/incidents';
import { countChars } from '../../lib/limits';
import { useLocation } from '../../lib/router';
import { useStore } from '../../lib/store';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

/** The server's bounds (`NewIncidentRequest`): a title of 1–200 characters, a text of 1–5,000. */
const TITLE_CHARS = 200;
const BODY_CHARS = 5000;

const detailHref = (id: string) => `/admin/incidents?incident=${encodeURIComponent(id)}`;

function pillOf(severity: string): string {
  return severity === 'sev1' ? 'pill-bad' : severity === 'sev2' || severity === 'sev3' ? 'pill-warn' : 'pill-off';
}

function SeverityPill({ severity }: { severity: string }) {
  return (
    <span className={`pill ${pillOf(severity)}`}>
      {severityName(severity)} ({severity})
    </span>
  );
}

/** Incident notices: publish one to everyone or to some accounts (an email each and a banner
 * in the app until they dismiss it), the notices published, and who was notified and read one
 * (`/admin/incidents?incident=<id>`). */
export function IncidentsPage() {
  const search = useLocation().split('?')[1] ?? '';
  const selected = new URLSearchParams(search).get('incident');
  return selected ? <Detail key={selected} id={selected} /> : <Overview />;
}

function Overview() {
  const res = useFetch<IncidentList>(incidentPaths.adminIncidents());
  return (
    <>
      <PublishForm onPublished={(incident) => res.setData((list) => list && { items: [incident, ...list.items.filter((i) => i.id !== incident.id)] })} />
      <h2>Notices</h2>
      {!res.data ? (
        <LoadState res={res} what="the notices" />
      ) : res.data.items.length === 0 ? (
        <p>No incident notices yet.</p>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Incident notices">
          <table className="admin-table" data-testid="incidents-table">
            <thead>
              <tr>
                <th scope="col">Notice</th>
                <th scope="col">Severity</th>
                <th scope="col">Published</th>
                <th scope="col">Sent to</th>
                <th scope="col" className="num">
                  Notified
                </th>
                <th scope="col" className="num">
                  Read
                </th>
              </tr>
            </thead>
            <tbody>
              {res.data.items.map((i) => (
                <tr key={i.id} data-testid="incident-row" data-title={i.title}>
                  <th scope="row">
                    <Link href={detailHref(i.id)}>{i.title}</Link>
                  </th>
                  <td>
                    <SeverityPill severity={i.severity} />
                  </td>
                  <td className="small">
                    <time dateTime={i.created_at} title={fullTime(i.created_at)}>
                      {relativeTime(i.created_at)}
                    </time>
                  </td>
                  <td className="small">{audience(i)}</td>
                  <td className="num">
                    {i.notified_count} of {i.recipient_count}
                  </td>
                  <td className="num">
                    {i.read_count} of {i.recipient_count}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function audience(i: Incident): string {
  const n = i.recipient_count === 1 ? '1 account' : `${i.recipient_count.toLocaleString('en-US')} accounts`;
  return i.audience === 'all' ? `Everyone (${n})` : n;
}

/** The form's names of the fields the server may refuse. */
const LABELS = { severity: 'The severity', title: 'The title', body: 'The text', user_ids: 'The list of accounts' };
type Field = keyof typeof LABELS;
/** The server refuses a field with `invalid_field` (the contract first said `invalid_request`). */
const FIELD_CODES = ['invalid_field', 'invalid_request'];

function PublishForm({ onPublished }: { onPublished: (incident: Incident) => void }) {
  const [severity, setSeverity] = useState<Severity>('sev3');
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [everyone, setEveryone] = useState(true);
  const [users, setUsers] = useState('');
  const [checked, setChecked] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [published, setPublished] = useState<Incident | null>(null);
  const refused = fieldError(error, LABELS, FIELD_CODES);
  const titleCount = countChars(title.trim(), TITLE_CHARS);
  const bodyCount = countChars(body.trim(), BODY_CHARS);

  const note = (field: Field): string | null =>
    checked[field] ?? (refused?.field === field ? [refused.message, refused.hint].filter(Boolean).join(' ') : null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const wanted = { title: title.trim(), body: body.trim() };
    const { ids, invalid } = parseUserIds(users);
    const problems: Partial<Record<Field, string>> = {};
    if (!wanted.title) problems.title = 'Give the notice a short title: what is wrong, in a few words.';
    else if (titleCount.over) problems.title = `The title is too long: at most ${TITLE_CHARS} characters.`;
    if (!wanted.body) problems.body = 'Say what happened, what it means for the reader and what they should do.';
    else if (bodyCount.over) problems.body = `The text is too long: at most ${BODY_CHARS.toLocaleString('en-US')} characters.`;
    if (!everyone) {
      if (invalid.length) problems.user_ids = `Not an account id: ${invalid.slice(0, 3).join(', ')}${invalid.length > 3 ? '…' : ''}. Paste whole ids.`;
      else if (!ids.length) problems.user_ids = 'Paste the id of at least one account, or choose everyone.';
    }
    setChecked(problems);
    setError(null);
    setPublished(null);
    const first = (['title', 'body', 'user_ids'] as const).find((f) => problems[f]);
    if (first) {
      document.getElementById(`incident-${first}`)?.focus();
      return;
    }
    if (everyone && !window.confirm(`Publish this ${severityName(severity).toLowerCase()} notice to every account? Each gets an email, and a banner until they dismiss it.`))
      return;
    setBusy(true);
    try {
      const incident = await incidentsApi.publish({ severity, ...wanted, ...(everyone ? {} : { user_ids: ids }) });
      onPublished(incident);
      setPublished(incident);
      setTitle('');
      setBody('');
      setUsers('');
    } catch (err) {
      setError(err);
      const field = fieldError(err, LABELS, FIELD_CODES)?.field;
      if (field) document.getElementById(`incident-${field}`)?.focus();
    } finally {
      setBusy(false);
    }
  }

  const titleNote = note('title');
  const bodyNote = note('body');
  const usersNote = note('user_ids');
  const severityNote = note('severity');

  return (
    <section className="publish-incident" aria-labelledby="publish-heading">
      <h2 id="publish-heading">Publish a notice</h2>
      <form className="form wide" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="incident-severity">Severity</label>
          <select
            id="incident-severity"
            value={severity}
            onChange={(e) => setSeverity(e.target.value as Severity)}
            aria-invalid={severityNote ? true : undefined}
            aria-describedby={describedBy(severityNote && 'incident-severity-error')}
          >
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {severityName(s)} ({s}): {SEVERITY_HELP[s]}
              </option>
            ))}
          </select>
          <FieldNote id="incident-severity-error" message={severityNote} />
        </div>
        <div className="field">
          <label htmlFor="incident-title">Title</label>
          <input
            id="incident-title"
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            placeholder="e.g. Replies are slow"
            aria-invalid={titleNote || titleCount.over ? true : undefined}
            aria-describedby={describedBy(titleCount.show && 'incident-title-count', titleNote && 'incident-title-error')}
          />
          <CharCounter id="incident-title-count" count={titleCount} />
          <FieldNote id="incident-title-error" message={titleNote} />
        </div>
        <div className="field">
          <label htmlFor="incident-body">What happened, and what people should do</label>
          <textarea
            id="incident-body"
            rows={5}
            value={body}
            onChange={(e) => setBody(e.target.value)}
            aria-invalid={bodyNote || bodyCount.over ? true : undefined}
            aria-describedby={describedBy('incident-body-help', bodyCount.show && 'incident-body-count', bodyNote && 'incident-body-error')}
          />
          <p id="incident-body-help" className="muted small">
            Plain text. It is emailed, and shown in a banner until each person dismisses it.
          </p>
          <CharCounter id="incident-body-count" count={bodyCount} />
          <FieldNote id="incident-body-error" message={bodyNote} />
        </div>
        <fieldset className="field">
          <legend>Who is affected</legend>
          <label className="choice">
            <input type="radio" name="incident-audience" checked={everyone} onChange={() => setEveryone(true)} />
            Everyone: every account
          </label>
          <label className="choice">
            <input type="radio" name="incident-audience" checked={!everyone} onChange={() => setEveryone(false)} />
            Only some accounts
          </label>
        </fieldset>
        {!everyone && (
          <div className="field">
            <label htmlFor="incident-user_ids">Account ids</label>
            <textarea
              id="incident-user_ids"
              rows={3}
              value={users}
              spellCheck={false}
              onChange={(e) => setUsers(e.target.value)}
              aria-invalid={usersNote ? true : undefined}
              aria-describedby={describedBy('incident-user_ids-help', usersNote && 'incident-user_ids-error')}
            />
            <p id="incident-user_ids-help" className="muted small">
              One per line, or separated by commas.
            </p>
            <FieldNote id="incident-user_ids-error" message={usersNote} />
          </div>
        )}
        {error !== null && !refused && <ErrorNotice error={error} />}
        <div>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Publishing…' : 'Publish notice'}
          </button>
        </div>
        <p className="notice notice-info published-note" role="status" hidden={!published}>
          {published && (
            <>
              Published “{published.title}” to {published.recipient_count === 1 ? '1 account' : `${published.recipient_count} accounts`};{' '}
              {published.notified_count} {published.notified_count === 1 ? 'email' : 'emails'} queued.{' '}
              <Link href={detailHref(published.id)}>See who has read it</Link>
            </>
          )}
        </p>
      </form>
    </section>
  );
}

function Detail({ id }: { id: string }) {
  const res = useFetch<IncidentDetail>(incidentPaths.adminIncident(id));
  const me = useStore(currentUser);
  const heading = useRef<HTMLHeadingElement>(null);
  const shown = res.data !== undefined;

  // Opened from the list, the link that was clicked is gone: start at the notice's title.
  useEffect(() => {
    if (shown && (document.activeElement === document.body || document.activeElement === null)) heading.current?.focus();
  }, [shown]);

  const back = (
    <p>
      <Link href="/admin/incidents">← All notices</Link>
    </p>
  );
  if (!res.data)
    return (
      <>
        {back}
        <LoadState res={res} what="the notice" />
      </>
    );
  const i = res.data;
  const by = i.created_by ? (i.created_by === me?.id ? 'by you' : `by account ${i.created_by}`) : '';

  return (
    <>
      {back}
      <section aria-labelledby="incident-detail-title" data-testid="incident-detail">
        <h2 id="incident-detail-title" tabIndex={-1} ref={heading}>
          {i.title}
        </h2>
        <p className="small">
          <SeverityPill severity={i.severity} /> Published{' '}
          <time dateTime={i.created_at} title={fullTime(i.created_at)}>
            {relativeTime(i.created_at)}
          </time>{' '}
          {by} to {audience(i)}.
        </p>
        <p className="incident-text-full">{i.body}</p>
        <dl className="incident-counts" data-testid="incident-counts">
          <div>
            <dt>Recipients</dt>
            <dd>{i.recipient_count}</dd>
          </div>
          <div>
            <dt>Notified (email queued)</dt>
            <dd>{i.notified_count}</dd>
          </div>
          <div>
            <dt>Read</dt>
            <dd>{i.read_count}</dd>
          </div>
        </dl>
        <div className="row">
          <button type="button" className="button small" onClick={res.reload} aria-describedby="incident-refresh-help">
            Refresh
          </button>
          <span id="incident-refresh-help" className="muted small">
            Read receipts arrive as people dismiss the banner.
          </span>
          {res.loading && (
            <span className="muted small" role="status">
              Refreshing…
            </span>
          )}
        </div>
        {res.error !== null && <ErrorNotice error={res.error} onRetry={res.reload} compact />}
        <h3 className="incident-recipients-heading">Recipients</h3>
        {i.recipients.length === 0 ? (
          <p>No accounts were affected.</p>
        ) : (
          <div className="table-wrap" tabIndex={0} role="region" aria-label="Recipients">
            <table className="admin-table" data-testid="incident-recipients">
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Notified</th>
                  <th scope="col">Read</th>
                </tr>
              </thead>
              <tbody>
                {i.recipients.map((r) => (
                  <tr key={r.user_id} data-testid="incident-recipient" data-email={r.email}>
                    <th scope="row">
                      {r.email} <span className="muted small">{r.user_id}</span>
                    </th>
                    <td>{stamp(r.notified_at, 'Email queued', 'Not yet')}</td>
                    <td>{stamp(r.read_at, 'Read', 'Not read')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function stamp(at: string | null | undefined, done: string, notYet: string) {
  if (!at) return <span className="pill pill-off">{notYet}</span>;
  return (
    <>
      <span className="pill pill-ok">{done}</span>{' '}
      <time className="small" dateTime={at} title={fullTime(at)}>
        {relativeTime(at)}
      </time>
    </>
  );
}
