import { useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { PlanDocument, RestoreRequest, RevisionList } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { useCrashTrigger } from '../lib/crash';
import { diffLines } from '../lib/diff';
import { useResource } from '../lib/useResource';

interface Props {
  sessionId: string;
  current: PlanDocument | undefined;
  version: number;
  onRestored: () => void;
  editable: boolean;
}

export function HistoryPanel({ sessionId, current, version, onRestored, editable }: Props) {
  useCrashTrigger('history');
  const [open, setOpen] = useState(false);
  const docId = current?.id ?? null;
  return (
    <section className="panel history" aria-labelledby="history-title">
      <div className="panel-head">
        <h2 id="history-title">Revision history</h2>
        <button type="button" className="button small" aria-expanded={open} aria-controls="history-body" onClick={() => setOpen((o) => !o)}>
          {open ? 'Hide' : 'Show'}
        </button>
      </div>
      <div id="history-body" hidden={!open}>
        {open && docId && current && (
          <RevisionList sessionId={sessionId} current={current} version={version} onRestored={onRestored} editable={editable} />
        )}
      </div>
    </section>
  );
}

function RevisionList({ sessionId, current, version, onRestored, editable }: Props & { current: PlanDocument }) {
  const revisions = useResource<RevisionList>(paths.revisions(sessionId, current.id), version);
  const [selected, setSelected] = useState<number | null>(null);
  if (revisions.error !== null && !revisions.data) return <ErrorNotice error={revisions.error} onRetry={revisions.reload} />;
  if (!revisions.data) return <p aria-busy="true">Loading revisions…</p>;
  return (
    <div className="history-grid">
      <ol className="revisions" aria-label="Revisions, newest first">
        {revisions.data.items.map((r) => (
          <li key={r.revision}>
            <button type="button" className="revision" aria-pressed={selected === r.revision} onClick={() => setSelected(r.revision)}>
              <strong>Revision {r.revision}</strong>
              <span className="muted small">
                {r.author === 'ai' ? 'by the agent' : 'by you'} · {new Date(r.created_at).toLocaleString()}
              </span>
            </button>
          </li>
        ))}
      </ol>
      {selected !== null && (
        <RevisionDiff
          key={selected}
          sessionId={sessionId}
          current={current}
          revision={selected}
          editable={editable}
          onRestored={() => {
            setSelected(null);
            onRestored();
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
  onRestored: () => void;
}) {
  const old = useResource<PlanDocument>(paths.document(sessionId, current.id, revision));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (old.error !== null && !old.data) return <ErrorNotice error={old.error} onRetry={old.reload} />;
  if (!old.data) return <p aria-busy="true">Loading revision {revision}…</p>;
  const oldDoc = old.data;

  const changed = current.sections
    .map((s) => ({ section: s, before: oldDoc.sections.find((o) => o.id === s.id)?.content ?? '' }))
    .filter(({ section, before }) => section.content !== before);

  async function restore() {
    setBusy(true);
    setError(null);
    try {
      await api.post(paths.restore(sessionId, current.id), { revision } satisfies RestoreRequest);
      onRestored();
    } catch (e) {
      setError(e);
    } finally {
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
      {editable && revision !== current.revision && (
        <button type="button" className="button" onClick={restore} disabled={busy}>
          {busy ? 'Restoring…' : `Restore revision ${revision}`}
        </button>
      )}
    </div>
  );
}
