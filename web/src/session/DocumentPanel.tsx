import { useEffect, useState } from 'react';
import { paths } from '../api/paths';
import type { DocumentSummary, PlanDocument, SectionContent } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { CharCounter } from '../components/FieldHelp';
import { Markdown } from '../components/Markdown';
import { SavedCopyNote } from '../components/SavedCopyNote';
import { RateDocument } from './Feedback';
import { connection, isOffline } from '../lib/connection';
import { useCrashTrigger } from '../lib/crash';
import { useLimits } from '../lib/about';
import { countChars } from '../lib/limits';
import type { Conflict, EditItem } from '../lib/outbox';
import { useStore } from '../lib/store';
import { conflicts as conflictStore, discardItem, outboxItems, queueEdit, resolveConflict, retryItem } from '../lib/sync';
import type { Resource } from '../lib/useResource';

interface Props {
  sessionId: string;
  documents: DocumentSummary[];
  selectedId: string | null;
  onSelect: (id: string) => void;
  doc: Resource<PlanDocument>;
  /** Section ids updated moments ago in the shown document. */
  fresh: ReadonlySet<string>;
  /** Text of sections the agent is writing now (section id → Markdown), not yet committed. */
  drafts: ReadonlyMap<string, string>;
  /** Section ids the agent was asked to draft and has not started yet. */
  placeholders: ReadonlySet<string>;
  currentStep: string | null;
  editable: boolean;
}

export function DocumentPanel({ sessionId, documents, selectedId, onSelect, doc, fresh, drafts, placeholders, currentStep, editable }: Props) {
  useCrashTrigger('document');
  const items = useStore(outboxItems);
  const allConflicts = useStore(conflictStore);
  const edits = items.filter((i): i is EditItem => i.kind === 'edit' && i.documentId === selectedId);
  const docConflicts = allConflicts.filter((c) => c.edit.documentId === selectedId);
  const data = doc.data;

  return (
    <section className="panel document" aria-labelledby="doc-title">
      <div className="panel-head">
        <h2 id="doc-title">{data?.title ?? 'Documents'}</h2>
        {selectedId && (
          <a className="button small" href={paths.exportDocument(sessionId, selectedId)} download>
            Export Markdown
          </a>
        )}
      </div>
      {documents.length > 1 && (
        <div className="doc-tabs" role="group" aria-label="Documents">
          {documents.map((d) => (
            <button
              key={d.id}
              type="button"
              className="tab"
              aria-pressed={d.id === selectedId}
              onClick={() => onSelect(d.id)}
            >
              {d.title}
              {d.step_id === currentStep ? <span className="visually-hidden"> (current step)</span> : null}
            </button>
          ))}
        </div>
      )}
      {doc.fromCache && <SavedCopyNote savedAt={doc.savedAt} />}
      {doc.error !== null && !data && <ErrorNotice error={doc.error} onRetry={doc.reload} />}
      {!data && doc.error === null && <p aria-busy="true">Loading the document…</p>}
      {docConflicts.map((c) => (
        <ConflictCard key={c.id} conflict={c} />
      ))}
      {data && (
        <div className="sections">
          <p className="muted small">Revision {data.revision}</p>
          {data.sections.map((s) => (
            <SectionView
              key={s.id}
              sessionId={sessionId}
              doc={data}
              section={s}
              pending={edits.filter((e) => e.sectionId === s.id)}
              fresh={fresh.has(s.id)}
              agentDraft={drafts.get(s.id)}
              awaitingDraft={placeholders.has(s.id) && !s.content.trim()}
              editable={editable}
            />
          ))}
        </div>
      )}
      {data && data.revision > 0 && <RateDocument key={data.id} sessionId={sessionId} documentId={data.id} title={data.title} />}
    </section>
  );
}

function SectionView({
  sessionId,
  doc,
  section,
  pending,
  fresh,
  agentDraft,
  awaitingDraft,
  editable,
}: {
  sessionId: string;
  doc: PlanDocument;
  section: SectionContent;
  pending: EditItem[];
  fresh: boolean;
  agentDraft: string | undefined;
  awaitingDraft: boolean;
  editable: boolean;
}) {
  const [editing, setEditing] = useState(false);
  const last = pending[pending.length - 1];
  const shown = last ? last.content : section.content;
  const [draft, setDraft] = useState(shown);
  const offline = isOffline(useStore(connection));
  const headingId = `section-${doc.id}-${section.id}`;
  const maxChars = useLimits().section;
  const count = countChars(draft, maxChars);
  const waiting = awaitingDraft && agentDraft === undefined && !shown;

  useEffect(() => {
    if (!editing) setDraft(shown);
  }, [shown, editing]);

  async function save() {
    setEditing(false);
    if (count.over) return;
    if (draft === shown) return;
    await queueEdit({
      sessionId,
      documentId: doc.id,
      sectionId: section.id,
      sectionTitle: section.title,
      content: draft,
      baseRevision: doc.revision,
      baseContent: shown,
    });
  }

  return (
    <section
      className={`doc-section${fresh ? ' fresh' : ''}${last ? ' pending' : ''}`}
      aria-labelledby={headingId}
      data-testid="doc-section"
      data-section-id={section.id}
      data-fresh={fresh ? 'true' : undefined}
      data-drafting={agentDraft !== undefined ? 'true' : waiting ? 'waiting' : undefined}
      aria-busy={agentDraft !== undefined || waiting ? true : undefined}
    >
      <div className="section-head">
        <h3 id={headingId}>{section.title}</h3>
        {fresh && <span className="badge badge-fresh">Just updated</span>}
        {agentDraft !== undefined && <span className="badge badge-drafting">The agent is writing…</span>}
        {waiting && <span className="badge badge-drafting">Drafting…</span>}
        {last && (
          <span className="badge badge-pending" data-testid="pending-edit">
            {last.state === 'failed' ? 'Not saved' : offline ? 'Saved on this device — sent when online' : 'Saving…'}
          </span>
        )}
        {editable && !editing && (
          <button type="button" className="button small" onClick={() => setEditing(true)} aria-label={`Edit ${section.title}`}>
            Edit
          </button>
        )}
      </div>
      {editing ? (
        <div className="section-editor">
          <label htmlFor={`${headingId}-editor`} className="visually-hidden">
            {`Content of ${section.title} (Markdown)`}
          </label>
          <textarea
            id={`${headingId}-editor`}
            rows={Math.min(20, Math.max(6, draft.split('\n').length + 1))}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            aria-invalid={count.over || undefined}
            aria-describedby={count.show ? `${headingId}-count` : undefined}
            autoFocus
          />
          <CharCounter id={`${headingId}-count`} count={count} />
          <div className="row">
            <button type="button" className="button primary small" onClick={save} disabled={count.over}>
              Save section
            </button>
            <button
              type="button"
              className="button small"
              onClick={() => {
                setDraft(shown);
                setEditing(false);
              }}
            >
              Cancel
            </button>
          </div>
        </div>
      ) : agentDraft !== undefined ? (
        <Markdown source={agentDraft} />
      ) : waiting ? (
        <div className="drafting-placeholder" data-testid="drafting-placeholder">
          <span className="skeleton" aria-hidden="true" />
          <span className="skeleton short" aria-hidden="true" />
          <span className="muted small">Drafting… the agent will write this section next.</span>
        </div>
      ) : shown ? (
        <Markdown source={shown} />
      ) : (
        <p className="muted empty-section">Not written yet. Answer the agent&apos;s questions, or write it yourself.</p>
      )}
      {last?.state === 'failed' && (
        <div className="notice notice-error compact" role="alert">
          <p>{last.error?.message}</p>
          {last.error?.hint && <p className="small">{last.error.hint}</p>}
          <button type="button" className="button small" onClick={() => retryItem(last)}>
            Save again
          </button>{' '}
          <button type="button" className="button small" onClick={() => discardItem(last)}>
            Discard my edit
          </button>
        </div>
      )}
    </section>
  );
}

function ConflictCard({ conflict }: { conflict: Conflict }) {
  const { edit } = conflict;
  return (
    <div className="conflict" role="alert" data-testid="conflict">
      <h3>“{edit.sectionTitle}” changed while you were editing</h3>
      <p>Your edit was made on an older version. Choose which text to keep.</p>
      <div className="conflict-versions">
        <figure>
          <figcaption>Your version</figcaption>
          <pre>{edit.content}</pre>
        </figure>
        <figure>
          <figcaption>Current version (revision {conflict.currentRevision})</figcaption>
          <pre>{conflict.theirs}</pre>
        </figure>
      </div>
      <div className="row">
        <button type="button" className="button primary small" onClick={() => resolveConflict(conflict, 'mine')}>
          Keep my version
        </button>
        <button type="button" className="button small" onClick={() => resolveConflict(conflict, 'theirs')}>
          Keep the current version
        </button>
      </div>
    </div>
  );
}
