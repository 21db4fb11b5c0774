import { useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { paths } from '../../api/paths';
import type { ClientKey, ClientKeyList, IssuedClientKey, NewClientKey } from '../../api/types';
import { describedBy, FieldNote } from '../../components/FieldHelp';
import { ErrorNotice } from '../../components/ErrorNotice';
import { currentUser } from '../../lib/auth';
import { fullTime, relativeTime } from '../../lib/durations';
import { fieldError } from '../../lib/errors';
import { charCount } from '../../lib/limits';
import { useStore } from '../../lib/store';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

/** The server's bound on a key's name (`NewClientKey.name`: 1 to 100 characters). */
const NAME_CHARS = 100;

/** Client keys let a service evaluate feature flags over OFREP (`Authorization: Bearer pfk_…`).
 * A new key is shown once, right after it is issued: the server keeps only its hash. */
export function FlagKeysPage() {
  const res = useFetch<ClientKeyList>(paths.adminClientKeys());
  const [issued, setIssued] = useState<IssuedClientKey | null>(null);
  if (!res.data) return <LoadState res={res} what="the client keys" />;
  const keys = res.data.items;

  return (
    <>
      <IssueForm
        onIssued={(key) => {
          setIssued(key);
          const { key: _secret, ...view } = key;
          res.setData((list) => list && { items: [view, ...list.items.filter((k) => k.id !== key.id)] });
        }}
      />
      {issued && <NewKey issued={issued} onDone={() => setIssued(null)} />}
      <h2>Keys</h2>
      {keys.length === 0 ? (
        <p>No client keys yet.</p>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Client keys">
          <table className="admin-table" data-testid="client-keys-table">
            <thead>
              <tr>
                <th scope="col">Used by</th>
                <th scope="col">Issued</th>
                <th scope="col">Status</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <KeyRow
                  key={k.id}
                  clientKey={k}
                  onRevoked={(next) => {
                    res.setData((list) => list && { items: list.items.map((x) => (x.id === next.id ? next : x)) });
                    // The server's own time of the revocation.
                    res.reload();
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

const NAME_LABELS = { name: 'The name' };

function IssueForm({ onIssued }: { onIssued: (key: IssuedClientKey) => void }) {
  const [name, setName] = useState('');
  const [checked, setChecked] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const refused = fieldError(error, NAME_LABELS);
  // The server's own hint for this field speaks of flag definitions: its message is enough.
  const note = checked ?? refused?.message ?? null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const wanted = name.trim();
    const problem = !wanted
      ? 'Give the key a name: what will use it, e.g. “billing service”.'
      : charCount(wanted) > NAME_CHARS
        ? `The name is too long: at most ${NAME_CHARS} characters.`
        : null;
    setChecked(problem);
    setError(null);
    if (problem) {
      document.getElementById('key-name')?.focus();
      return;
    }
    setBusy(true);
    try {
      onIssued(await api.post<IssuedClientKey>(paths.adminClientKeys(), { name: wanted } satisfies NewClientKey));
      setName('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="admin-toolbar" onSubmit={submit} aria-label="Issue a client key">
      <div className="field">
        <label htmlFor="key-name">What will use the key</label>
        <input
          id="key-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="e.g. billing service"
          aria-invalid={note ? true : undefined}
          aria-describedby={describedBy(note && 'key-name-error')}
        />
        <FieldNote id="key-name-error" message={note} />
      </div>
      <button type="submit" className="button primary" disabled={busy}>
        {busy ? 'Issuing…' : 'Issue key'}
      </button>
      {error !== null && !refused && <ErrorNotice error={error} compact />}
    </form>
  );
}

/** The key itself, this once: copy it now, it is not shown again. */
function NewKey({ issued, onDone }: { issued: IssuedClientKey; onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(issued.key);
      setCopied('yes');
    } catch {
      // No clipboard access (an older browser, a denied permission): the field is selected to copy by hand.
      const field = document.getElementById('new-key') as HTMLInputElement | null;
      field?.select();
      setCopied('no');
    }
  }

  return (
    <section className="notice notice-warn new-key" aria-labelledby="new-key-title" data-testid="new-key">
      <h2 id="new-key-title">The key for “{issued.name}”</h2>
      <p>
        <strong>Copy it now: it will not be shown again.</strong> Plansmith keeps only a fingerprint of it. If it is lost, revoke it
        and issue a new one.
      </p>
      <div className="row">
        <label htmlFor="new-key" className="visually-hidden">
          New client key
        </label>
        <input id="new-key" className="key-value" readOnly value={issued.key} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" className="button primary" onClick={copy}>
          Copy key
        </button>
        <button type="button" className="button" onClick={onDone}>
          Done, I kept it
        </button>
      </div>
      <p className="small" role="status">
        {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'no' ? 'The key is selected: copy it with Ctrl+C (⌘C on a Mac).' : ''}
      </p>
      <p className="small muted">
        A service sends it as <code>Authorization: Bearer {issued.key.slice(0, 4)}…</code> to the flag evaluation API (OFREP).
      </p>
    </section>
  );
}

function KeyRow({ clientKey: k, onRevoked }: { clientKey: ClientKey; onRevoked: (next: ClientKey) => void }) {
  const me = useStore(currentUser);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const by = k.created_by ? (k.created_by === me?.id ? 'by you' : `by account ${k.created_by.slice(0, 8)}…`) : '';

  async function revoke() {
    if (!window.confirm(`Revoke the key of “${k.name}”? Services using it are refused from now on, on every server. This cannot be undone.`)) return;
    setBusy(true);
    setError(null);
    try {
      await api.delete<void>(paths.adminClientKey(k.id));
      onRevoked({ ...k, revoked_at: new Date().toISOString() });
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }

  return (
    <tr data-testid="client-key" data-name={k.name}>
      <th scope="row">{k.name}</th>
      <td className="small">
        <time dateTime={k.created_at} title={fullTime(k.created_at)}>
          {relativeTime(k.created_at)}
        </time>{' '}
        <span className="muted" title={k.created_by ?? undefined}>
          {by}
        </span>
      </td>
      <td>
        {k.revoked_at ? (
          <span className="pill pill-off" title={fullTime(k.revoked_at)}>
            Revoked {relativeTime(k.revoked_at)}
          </span>
        ) : (
          <span className="pill pill-ok">Active</span>
        )}
      </td>
      <td>
        {!k.revoked_at && (
          <button type="button" className="button small" disabled={busy} onClick={revoke}>
            Revoke<span className="visually-hidden"> the key of {k.name}</span>
          </button>
        )}
        {error !== null && <ErrorNotice error={error} compact />}
      </td>
    </tr>
  );
}
