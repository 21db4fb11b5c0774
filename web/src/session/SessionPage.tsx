import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { paths } from '../api/paths';
import type { DocumentList, PlanDocument, Session } from '../api/types';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { ErrorNotice } from '../components/ErrorNotice';
import { SavedCopyNote } from '../components/SavedCopyNote';
import { saveCopy } from '../lib/cache';
import { connection, isOffline } from '../lib/connection';
import { forgetPrefetched } from '../lib/prefetch';
import { navigate } from '../lib/router';
import { useStore } from '../lib/store';
import type { SectionDraft, SectionUpdate } from '../lib/replyStream';
import { onOutboxEvent, queueMessage } from '../lib/sync';
import { useMediaQuery } from '../lib/useMediaQuery';
import { useResource } from '../lib/useResource';
import { ChatPanel } from './ChatPanel';
import { DocumentPanel } from './DocumentPanel';
import { SessionSurvey } from './Feedback';
import { asksToDraftTheRest, DRAFT_THE_REST, emptySections, liveFilled, type Drafting } from './drafting';
import { HistoryPanel } from './HistoryPanel';
import { OfflinePlannerNote } from './OfflinePlannerNote';
import { pickDocument, prefetchSession } from './prefetch';
import { ExportLinks, SessionControls } from './SessionControls';
import { StepsBar } from './StepsBar';
import { useConsentGate } from './useConsentGate';

const FRESH_MS = 6000;
/** Below this width the chat and the document are two tabs instead of two columns. */
export const NARROW = '(max-width: 959px)';

type Pane = 'chat' | 'document';

export function SessionPage({ id }: { id: string }) {
  // Opened from inside the app: the conversation and the document need not wait for the
  // session either (on a fresh load, main.tsx started these already and this reuses them).
  useState(() => prefetchSession(id));
  useEffect(() => () => forgetPrefetched(paths.session(id)), [id]);
  const [sessionVersion, setSessionVersion] = useState(0);
  const [docVersion, setDocVersion] = useState(0);
  const [chatVersion, setChatVersion] = useState(0);
  const session = useResource<Session>(paths.session(id), sessionVersion);
  const documents = useResource<DocumentList>(paths.documents(id), docVersion);
  const [chosenDoc, setChosenDoc] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Record<string, number>>({});
  // Sections the agent is writing now, per live reply, until they are committed.
  const [liveDrafts, setLiveDrafts] = useState<Record<string, Record<string, SectionDraft>>>({});
  // Sections committed by a reply whose new revision is not loaded yet: their last draft stays
  // on screen meanwhile instead of the older (often empty) text.
  const [committed, setCommitted] = useState<Record<string, { text: string; revision: number }>>({});
  // "Draft the rest" asked: which sections the agent is about to write.
  const [drafting, setDrafting] = useState<Drafting | null>(null);
  // The drafts as last reported, read when a section commits (before React renders again).
  const liveDraftsNow = useRef<Record<string, Record<string, SectionDraft>>>({});
  const narrow = useMediaQuery(NARROW);
  const [pane, setPane] = useState<Pane>('chat');
  const offline = isOffline(useStore(connection));
  // Nothing goes to the model providers before the person agreed to the notice.
  const consent = useConsentGate();
  const { guard } = consent;

  const s = session.data;
  const docs = documents.data?.items ?? [];
  const currentDocId = docs.find((d) => d.step_id === s?.current_step)?.id ?? null;
  const selectedId = pickDocument(docs, chosenDoc, s?.current_step ?? null);
  // The current step's document (for what is left to write) and the one shown, when another.
  const currentDoc = useResource<PlanDocument>(currentDocId ? paths.document(id, currentDocId) : null, docVersion);
  const otherDoc = useResource<PlanDocument>(selectedId && selectedId !== currentDocId ? paths.document(id, selectedId) : null, docVersion);
  const doc = selectedId === currentDocId ? currentDoc : otherDoc;

  useEffect(() => {
    if (s) document.title = `${s.title} · Plansmith`;
  }, [s]);

  const refreshAll = useCallback(() => {
    setSessionVersion((v) => v + 1);
    setDocVersion((v) => v + 1);
  }, []);

  // Committed sections arrive in a burst at the end of a reply: one reload for the burst.
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshSoon = useCallback(() => {
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = null;
      refreshAll();
    }, 150);
  }, [refreshAll]);
  useEffect(() => () => void (refreshTimer.current && clearTimeout(refreshTimer.current)), []);

  // The agent committed a section: show its document, keep its text until the new revision is
  // loaded, mark it as fresh.
  const onSection = useCallback(
    (update: SectionUpdate) => {
      const key = `${update.document_id}/${update.section_id}`;
      setChosenDoc(update.document_id);
      setFresh((f) => ({ ...f, [key]: Date.now() }));
      // The stream dropped the section's draft as it committed it; its last text is still here.
      for (const drafts of Object.values(liveDraftsNow.current)) {
        const text = drafts[key]?.text;
        if (text !== undefined) setCommitted((c) => ({ ...c, [key]: { text, revision: update.revision } }));
      }
      refreshSoon();
    },
    [refreshSoon],
  );

  const onDrafts = useCallback((replyId: string, drafts: Record<string, SectionDraft>) => {
    if (Object.keys(drafts).length > 0) liveDraftsNow.current = { ...liveDraftsNow.current, [replyId]: drafts };
    setLiveDrafts((all) => {
      if (all[replyId] === drafts || (!all[replyId] && Object.keys(drafts).length === 0)) return all;
      const { [replyId]: _previous, ...others } = all;
      return Object.keys(drafts).length === 0 ? others : { ...others, [replyId]: drafts };
    });
  }, []);

  const onReplyFinished = useCallback(
    (replyId: string) => {
      const { [replyId]: _done, ...others } = liveDraftsNow.current;
      liveDraftsNow.current = others;
      setDrafting((d) => (d && d.replyId === replyId ? null : d));
      refreshAll();
    },
    [refreshAll],
  );

  const onReplySettled = useCallback((replyId: string) => setDrafting((d) => (d && d.replyId === replyId ? null : d)), []);

  // Every message goes out through here: a request to draft the rest puts placeholders in the
  // sections still empty at once, before the agent's first word.
  const send = useCallback(
    async (content: string) => {
      const current = currentDoc.data;
      if (asksToDraftTheRest(content) && current && current.id === currentDocId) {
        const sections = emptySections(current).map((sec) => sec.id);
        if (sections.length > 0) {
          setDrafting({ documentId: current.id, sections, replyId: null, content });
          setChosenDoc(current.id);
        }
      }
      await queueMessage(id, content);
    },
    [id, currentDoc.data, currentDocId],
  );
  const draftTheRest = useCallback(() => void guard(() => send(DRAFT_THE_REST)), [guard, send]);

  // The notice (or why the consent could not be read) is in the chat: on a phone, show it.
  const consentShown = consent.phase === 'asking' || consent.error !== null;
  useEffect(() => {
    if (consentShown) setPane('chat');
  }, [consentShown, consent.asked]);

  useEffect(
    () =>
      onOutboxEvent((event) => {
        const sessionId = event.type === 'conflict' ? event.conflict.edit.sessionId : event.item.sessionId;
        if (sessionId !== id) return;
        if (event.type === 'saved' || event.type === 'conflict') refreshAll();
        if (event.type === 'delivered') {
          setSessionVersion((v) => v + 1);
          const { item, response } = event;
          setDrafting((d) => (d && d.replyId === null && d.content === item.content ? { ...d, replyId: response.reply.id } : d));
        }
        if (event.type === 'failed' && event.item.kind === 'message') {
          const content = event.item.content;
          setDrafting((d) => (d && d.replyId === null && d.content === content ? null : d));
        }
      }),
    [id, refreshAll],
  );

  // A newer revision of the shown document: mark the sections whose text changed (the agent's
  // changes land with the end of its reply, edits and restores with their own revision), and
  // forget the committed drafts it now holds.
  const previousDoc = useRef<PlanDocument | undefined>(undefined);
  useEffect(() => {
    const next = doc.data;
    const before = previousDoc.current;
    previousDoc.current = next;
    if (next) {
      setCommitted((c) => {
        const keep = Object.entries(c).filter(([key, v]) => !(key.startsWith(`${next.id}/`) && next.revision >= v.revision));
        return keep.length === Object.keys(c).length ? c : Object.fromEntries(keep);
      });
    }
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

  /** Agent text per section of a document: live drafts, then committed ones not yet loaded. */
  const agentTexts = useCallback(
    (docId: string | null) => {
      const texts = new Map<string, string>();
      if (!docId) return texts;
      for (const [key, value] of Object.entries(committed)) if (key.startsWith(`${docId}/`)) texts.set(key.slice(docId.length + 1), value.text);
      for (const drafts of Object.values(liveDrafts)) {
        for (const draft of Object.values(drafts)) if (draft.document_id === docId) texts.set(draft.section_id, draft.text);
      }
      return texts;
    },
    [liveDrafts, committed],
  );
  const draftTexts = useMemo(() => agentTexts(selectedId), [agentTexts, selectedId]);
  const placeholders = useMemo(
    () => new Set(drafting && drafting.documentId === selectedId ? drafting.sections : []),
    [drafting, selectedId],
  );

  const onSessionChanged = useCallback(
    (next: Session) => {
      session.setData(() => next);
      void saveCopy(paths.session(id), next);
      // A step completed: the next step's introduction, its document and its tab.
      setChosenDoc(null);
      setDocVersion((v) => v + 1);
      setChatVersion((v) => v + 1);
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
  const current = currentDoc.data && currentDoc.data.id === currentDocId ? currentDoc.data : undefined;
  const filled = liveFilled(s, current, agentTexts(currentDocId));
  const chatHidden = narrow && pane !== 'chat';
  const docHidden = narrow && pane !== 'document';
  const paneProps = (name: Pane) =>
    narrow ? { role: 'tabpanel' as const, id: `pane-${name}`, 'aria-labelledby': `tab-${name}`, hidden: pane !== name } : {};

  return (
    <div className="session-page">
      <header className="session-head">
        <h1>{s.title}</h1>
        <div className="session-actions">
          <ExportLinks sessionId={id} offline={offline || session.fromCache} />
          <SessionControls
            session={s}
            fromCache={session.fromCache}
            onRenamed={(next) => session.setData(() => next)}
            onDeleted={() => navigate('/', { replace: true })}
          />
        </div>
        <details className="idea">
          <summary>
            <span className="idea-label">Idea</span> <span className="idea-preview muted">{s.idea}</span>
          </summary>
          <p className="idea-full">{s.idea}</p>
        </details>
        {session.fromCache && <SavedCopyNote savedAt={session.savedAt} />}
        <OfflinePlannerNote />
      </header>
      <StepsBar
        session={s}
        onChanged={onSessionChanged}
        currentDoc={current}
        filled={filled}
        drafting={drafting !== null}
        onDraftTheRest={draftTheRest}
      />
      {s.status === 'completed' && !session.fromCache && <SessionSurvey key={id} sessionId={id} />}
      {narrow && (
        <div className="pane-tabs" role="tablist" aria-label="Show">
          {(['chat', 'document'] as const).map((name) => (
            <button
              key={name}
              type="button"
              role="tab"
              id={`tab-${name}`}
              aria-controls={`pane-${name}`}
              aria-selected={pane === name}
              tabIndex={pane === name ? 0 : -1}
              className="pane-tab"
              onClick={() => setPane(name)}
              onKeyDown={(e) => {
                if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
                const other = name === 'chat' ? 'document' : 'chat';
                setPane(other);
                document.getElementById(`tab-${other}`)?.focus();
              }}
            >
              {name === 'chat' ? 'Chat' : 'Document'}
              {name === 'document' && drafting && <span className="tab-note"> · drafting</span>}
            </button>
          ))}
        </div>
      )}
      <div className="session-grid">
        <div className="pane pane-chat" {...paneProps('chat')}>
          <ErrorBoundary panel="chat" label="conversation">
            <ChatPanel
              session={s}
              version={chatVersion}
              visible={!chatHidden}
              onSend={send}
              consent={consent}
              onSection={onSection}
              onDrafts={onDrafts}
              onReplyFinished={onReplyFinished}
              onReplySettled={onReplySettled}
            />
          </ErrorBoundary>
        </div>
        <div className="pane pane-document side" {...paneProps('document')} data-hidden={docHidden || undefined}>
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
                placeholders={placeholders}
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
