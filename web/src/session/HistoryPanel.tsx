import { useMemo, useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { PlanDocument, RestoreRequest, RevisionList, RevisionResponse } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { useCrashTrigger } from '../lib/crash';
import { diffLines } from '../lib/diff';
import { useResource } from '../lib/useResource';
import { describeRevision } from './revisions';

interface Props {
  sessionId: string;
  current: PlanDocument | undefined;
  version: number;
  onRestored: () => void;
  editable: boolean;
}

/** A restore just made: which revision came back, as which, and what was current before
 * (restoring that is the undo). */
interface Restored {
  documentId: string;
  from: number;
  previous: number;
  revision: number;
  undone: boolean;
}

async function restoreRevision(sessionId: string, documentId: string, revision: number): Promise<number> {
  const res = await api.post<RevisionResponse>(paths.restore(sessionId, documentId), { revision } satisfies RestoreRequest);
  return res.revision;
}

export function HistoryPanel({ sessionId, current, version, onRestored, editable }: Props) {
  useCrashTrigger('history');
  const [open, setOpen] = useState(false);
  const [restored, setRestored] = useState<Restored | null>(null);
  const [undoError, setUndoError] = useState<unknown>(null);
  const [undoing, setUndoing] = useState(false);
  const docId = current?.id ?? null;

  async function undo(r: Restored) {
    setUndoing(true);
    setUndoError(null);
    try {
      const revision = await restoreRevision(sessionId, r.documentId, r.previous);
      setRestored({ ...r, revision, undone: true });
      onRestored();
    } catch (e) {
      setUndoError(e);
    } finally {
      setUndoing(false);
    }
  }

  const shownRestore = restored && restored.documentId === docId ? restored : null;
  return (
    <section className="panel history" aria-labelledby="history-title">
      <div className="panel-head">
        <h2 id="history-title">Revision history</h2>
        <button type="button" className="button small" aria-expanded={open} aria-controls="history-body" onClick={() => setOpen((o) => !o)}>
          {open ? 'Hide' : 'Show'}
        </button>
      </div>
      {shownRestore && (
        <div className="notice notice-info compact" role="status" data-testid="restore-notice">
          {shownRestore.undone ? (
            <p>Undone: revision {shownRestore.previous} is back, as revision {shownRestore.revision}.</p>
          ) : (
            <>
              <p>
                Revision {shownRestore.from} restored, as the new revision {shownRestore.revision}. Nothing is lost: revision{' '}
                {shownRestore.previous} is still in the history.
              </p>
              {editable && (
                <button type="button" className="button small" onClick={() => undo(shownRestore)} disabled={undoing}>
                  {undoing ? 'Undoing…' : 'Undo'}
                </button>
              )}
            </>
          )}
          {undoError !== null && <ErrorNotice error={undoError} compact />}
        </div>
      )}
      <div id="history-body" hidden={!open}>
        {open && docId && current && (
          <RevisionList
            sessionId={sessionId}
            current={current}
            version={version}
            editable={editable}
            onRestored={(r) => {
              setRestored(r);
              setUndoError(null);
              onRestored();
            }}
          />
        )}
      </div>
    </section>
  );
}

function RevisionList({
  sessionId,
  current,
  version,
  onRestored,
  editable,
}: {
  sessionId: string;
  current: PlanDocument;
  version: number;
  onRestored: (r: Restored) => void;
  editable: boolean;
}) {
  const revisions = useResource<RevisionList>(paths.revisions(sessionId, current.id), version);
  const [selected, setSelected] = useState<number | null>(null);
  const titles = useMemo(() => new Map(current.sections.map((s) => [s.id, s.title])), [current.sections]);
  if (revisions.error !== null && !revisions.data) return <ErrorNotice error={revisions.error} onRetry={revisions.reload} />;
  if (!revisions.data) return <p aria-busy="true">Loading revisions…</p>;
  const now = Date.now();
  return (
    <div className="history-grid">
      <ol className="revisions" aria-label="Revisions, newest first">
        {revisions.data.items.map((r) => {
          const d = describeRevision(r, titles, now);
          return (
            <li key={r.revision}>
              <button type="button" className="revision" aria-pressed={selected === r.revision} onClick={() => setSelected(r.revision)} data-testid="revision">
                <strong>
                  {d.title}
                  {r.revision === current.revision && <span className="muted small"> (current)</span>}
                </strong>
                <span className="muted small">
                  {d.origin} · <time dateTime={r.created_at} title={d.whenFull}>{d.when}</time>
                </span>
                {d.changed && <span className="small revision-changed">{d.changed}</span>}
              </button>
            </li>
          );
        })}
      </ol>
      {selected !== null && (
        <RevisionDiff
          key={selected}
          sessionId={sessionId}
          current={current}
          revision={selected}
          editable={editable}
          onRestored={(r) => {
            setSelected(null);
            onRestored(r);
          }}
        />
      )}
    </div>
  );
}

function RevisionDiff({
  sessionId,
  current,
  revision,
  editable,
  onRestored,
}: {
  sessionId: string;
  current: PlanDocument;
  revision: number;
  editable: boolean;
  onRestored: (r: Restored) => void;
}) {
  const old = useResource<PlanDocument>(paths.document(sessionId, current.id, revision));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  if (old.error !== null && !old.data) return <ErrorNotice error={old.error} onRetry={old.reload} />;
  if (!old.data) return <p aria-busy="true">Loading revision {revision}…</p>;
  const oldDoc = old.data;

  const changed = current.sections
    .map((s) => ({ section: s, before: oldDoc.sections.find((o) => o.id === s.id)?.content ?? '' }))
    .filter(({ section, before }) => section.content !== before);

  async function restore() {
    setBusy(true);
    setError(null);
    const previous = current.revision;
    try {
      const made = await restoreRevision(sessionId, current.id, revision);
      onRestored({ documentId: current.id, from: revision, previous, revision: made, undone: false });
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }

  return (
    <div className="diff" data-testid="revision-diff">
      <h3>
        Revision {revision} compared with the current revision {current.revision}
      </h3>
      {changed.length === 0 ? (
        <p>No differences: revision {revision} reads the same as the current one.</p>
      ) : (
        changed.map(({ section, before }) => (
          <div key={section.id} className="diff-section">
            <h4>{section.title}</h4>
            <pre className="diff-lines" aria-label={`Changes in ${section.title}: lines marked minus are only in revision ${revision}, plus only in the current one`}>
              {diffLines(before, section.content).map((line, i) => (
                <span key={i} className={`diff-${line.kind}`}>
                  {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '− ' : '  '}
                  {line.text}
                  {'\n'}
                </span>
              ))}
            </pre>
          </div>
        ))
      )}
      {error !== null && <ErrorNotice error={error} compact />}
      {editable && revision !== current.revision && !confirming && (
        <button type="button" className="button" onClick={() => setConfirming(true)}>
          Restore revision {revision}…
        </button>
      )}
      {editable && revision !== current.revision && confirming && (
        <div className="confirm" role="group" aria-labelledby="restore-question">
          <p id="restore-question">
            Restore revision {revision}? The document gets its text back as a new revision; the current revision {current.revision} stays in the
            history, and you can undo.
          </p>
          <div className="row">
            <button type="button" className="button primary" onClick={restore} disabled={busy} autoFocus>
              {busy ? 'Restoring…' : `Yes, restore revision ${revision}`}
            </button>
            <button type="button" className="button" onClick={() => setConfirming(false)} disabled={busy}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
