import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { paths } from '../api/paths';
import type { DocumentList, DocumentSummary, PlanDocument, Session } from '../api/types';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { ErrorNotice } from '../components/ErrorNotice';
import { SavedCopyNote } from '../components/SavedCopyNote';
import { saveCopy } from '../lib/cache';
import type { SectionDraft, SectionUpdate } from '../lib/replyStream';
import { onOutboxEvent } from '../lib/sync';
import { useResource } from '../lib/useResource';
import { ChatPanel } from './ChatPanel';
import { DocumentPanel } from './DocumentPanel';
import { HistoryPanel } from './HistoryPanel';
import { StepsBar } from './StepsBar';

const FRESH_MS = 6000;

export function SessionPage({ id }: { id: string }) {
  const [sessionVersion, setSessionVersion] = useState(0);
  const [docVersion, setDocVersion] = useState(0);
  const session = useResource<Session>(paths.session(id), sessionVersion);
  const documents = useResource<DocumentList>(paths.documents(id), docVersion);
  const [chosenDoc, setChosenDoc] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Record<string, number>>({});
  // Sections the agent is writing now, per live reply, until they are committed.
  const [liveDrafts, setLiveDrafts] = useState<Record<string, Record<string, SectionDraft>>>({});

  const s = session.data;
  const docs = documents.data?.items ?? [];
  const selectedId = pickDocument(docs, chosenDoc, s?.current_step ?? null);
  const doc = useResource<PlanDocument>(selectedId ? paths.document(id, selectedId) : null, docVersion);

  useEffect(() => {
    if (s) document.title = `${s.title} · Plansmith`;
  }, [s]);

  const refreshAll = useCallback(() => {
    setSessionVersion((v) => v + 1);
    setDocVersion((v) => v + 1);
  }, []);

  // The agent wrote a section: show its document, reload it, and mark the section as fresh.
  const onSection = useCallback(
    (update: SectionUpdate) => {
      setChosenDoc(update.document_id);
      setFresh((f) => ({ ...f, [`${update.document_id}/${update.section_id}`]: Date.now() }));
      refreshAll();
    },
    [refreshAll],
  );

  const onDrafts = useCallback((replyId: string, drafts: Record<string, SectionDraft>) => {
    setLiveDrafts((all) => {
      if (all[replyId] === drafts || (!all[replyId] && Object.keys(drafts).length === 0)) return all;
      const { [replyId]: _previous, ...others } = all;
      return Object.keys(drafts).length === 0 ? others : { ...others, [replyId]: drafts };
    });
  }, []);

  useEffect(
    () =>
      onOutboxEvent((event) => {
        const sessionId = event.type === 'conflict' ? event.conflict.edit.sessionId : event.item.sessionId;
        if (sessionId !== id) return;
        if (event.type === 'saved' || event.type === 'conflict') refreshAll();
        if (event.type === 'delivered') setSessionVersion((v) => v + 1);
      }),
    [id, refreshAll],
  );

  // A newer revision of the shown document: mark the sections whose text changed (the agent's
  // changes land with the end of its reply, edits and restores with their own revision).
  const previousDoc = useRef<PlanDocument | undefined>(undefined);
  useEffect(() => {
    const next = doc.data;
    const before = previousDoc.current;
    previousDoc.current = next;
    if (!next || !before || before.id !== next.id || next.revision <= before.revision) return;
    const old = new Map(before.sections.map((sec) => [sec.id, sec.content]));
    const changed = next.sections.filter((sec) => old.get(sec.id) !== sec.content);
    if (changed.length === 0) return;
    const now = Date.now();
    setFresh((f) => ({ ...f, ...Object.fromEntries(changed.map((sec) => [`${next.id}/${sec.id}`, now])) }));
  }, [doc.data]);

  // Freshness fades after a few seconds.
  useEffect(() => {
    const keys = Object.keys(fresh);
    if (keys.length === 0) return;
    const oldest = Math.min(...keys.map((k) => fresh[k]));
    const timer = setTimeout(() => {
      const now = Date.now();
      setFresh((f) => Object.fromEntries(Object.entries(f).filter(([, t]) => now - t < FRESH_MS)));
    }, Math.max(50, oldest + FRESH_MS - Date.now()));
    return () => clearTimeout(timer);
  }, [fresh]);

  const freshSections = useMemo(() => {
    const set = new Set<string>();
    for (const key of Object.keys(fresh)) {
      const [docId, sectionId] = key.split('/');
      if (docId === selectedId) set.add(sectionId);
    }
    return set;
  }, [fresh, selectedId]);

  const draftTexts = useMemo(() => {
    const texts = new Map<string, string>();
    for (const drafts of Object.values(liveDrafts)) {
      for (const draft of Object.values(drafts)) {
        if (draft.document_id === selectedId) texts.set(draft.section_id, draft.text);
      }
    }
    return texts;
  }, [liveDrafts, selectedId]);

  const onSessionChanged = useCallback(
    (next: Session) => {
      session.setData(() => next);
      void saveCopy(paths.session(id), next);
      setDocVersion((v) => v + 1);
    },
    [session, id],
  );

  if (session.error !== null && !s) {
    return (
      <>
        <h1>Planning session</h1>
        <ErrorNotice error={session.error} onRetry={session.reload} />
      </>
    );
  }
  if (!s) return <p aria-busy="true">Loading the session…</p>;

  const editable = s.status === 'active';
  return (
    <div className="session-page">
      <header className="session-head">
        <h1>{s.title}</h1>
        <p className="muted idea">{s.idea}</p>
        {session.fromCache && <SavedCopyNote savedAt={session.savedAt} />}
      </header>
      <StepsBar session={s} onChanged={onSessionChanged} />
      <div className="session-grid">
        <ErrorBoundary panel="chat" label="conversation">
          <ChatPanel session={s} onSection={onSection} onDrafts={onDrafts} onReplyFinished={refreshAll} />
        </ErrorBoundary>
        <div className="side">
          <ErrorBoundary panel="document" label="document">
            {documents.error !== null && !documents.data ? (
              <ErrorNotice error={documents.error} onRetry={documents.reload} />
            ) : (
              <DocumentPanel
                sessionId={id}
                documents={docs}
                selectedId={selectedId}
                onSelect={setChosenDoc}
                doc={doc}
                fresh={freshSections}
                drafts={draftTexts}
                currentStep={s.current_step ?? null}
                editable={editable}
              />
            )}
          </ErrorBoundary>
          <ErrorBoundary panel="history" label="revision history">
            <HistoryPanel sessionId={id} current={doc.data} version={docVersion} onRestored={refreshAll} editable={editable} />
          </ErrorBoundary>
        </div>
      </div>
    </div>
  );
}

function pickDocument(docs: DocumentSummary[], chosen: string | null, currentStep: string | null): string | null {
  if (chosen && docs.some((d) => d.id === chosen)) return chosen;
  const current = docs.find((d) => d.step_id === currentStep);
  return (current ?? docs[docs.length - 1])?.id ?? null;
}
