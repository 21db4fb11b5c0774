import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { Session, SessionList } from '../api/types';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { ErrorNotice } from '../components/ErrorNotice';
import { Link } from '../components/Link';
import { SavedCopyNote } from '../components/SavedCopyNote';
import { useCrashTrigger } from '../lib/crash';
import { lastDeleted } from '../lib/sessions';
import { useStore } from '../lib/store';
import { SessionControls } from '../session/SessionControls';
import { useResource } from '../lib/useResource';

const PAGE_SIZE = 20;

export function SessionsPage() {
  useEffect(() => {
    document.title = 'Your planning sessions · Plansmith';
  }, []);
  return (
    <>
      <div className="page-head">
        <h1>Your planning sessions</h1>
        <Link href="/sessions/new" className="button primary">
          New session
        </Link>
      </div>
      <ErrorBoundary panel="list" label="list of sessions">
        <SessionList />
      </ErrorBoundary>
    </>
  );
}

function SessionList() {
  useCrashTrigger('list');
  const first = useResource<SessionList>(paths.sessions({ limit: PAGE_SIZE }));
  const [more, setMore] = useState<Session[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const deleted = useStore(lastDeleted);
  const deletedNote = useRef<HTMLParagraphElement>(null);
  // The confirmation of a deletion is said once, here; leaving the list forgets it.
  useEffect(() => () => lastDeleted.set(null), []);

  useEffect(() => {
    setMore([]);
    setCursor(undefined);
  }, [first.data]);

  if (first.error && !first.data) return <ErrorNotice error={first.error} onRetry={first.reload} />;
  if (!first.data) return <p aria-busy="true">Loading your sessions…</p>;

  const next = cursor === undefined ? first.data.next_cursor : cursor;
  // A session deleted from its own page may still be in a saved copy of the list.
  const sessions = [...first.data.items, ...more].filter((s) => s.id !== deleted?.id);

  /** The list as the server has it now, in the saved copy too (the first page). */
  function changed(id: string, next: Session | null) {
    const apply = (items: Session[]) => (next ? items.map((s) => (s.id === id ? next : s)) : items.filter((s) => s.id !== id));
    first.setData((page) => page && { ...page, items: apply(page.items) });
    setMore(apply);
    if (!next) setTimeout(() => deletedNote.current?.focus(), 0);
  }

  async function loadMore() {
    if (!next) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await api.get<SessionList>(paths.sessions({ limit: PAGE_SIZE, cursor: next }));
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setMoreError(e);
    } finally {
      setLoadingMore(false);
    }
  }

  return (
    <section aria-label="Sessions">
      <p className="flash-note small" role="status" ref={deletedNote} tabIndex={-1} data-testid="deleted-note">
        {deleted ? `“${deleted.title}” was deleted.` : ''}
      </p>
      {first.fromCache && <SavedCopyNote savedAt={first.savedAt} />}
      {sessions.length === 0 ? (
        <div className="empty">
          <p>No sessions yet. Start one: describe your idea and the planning agent takes it from there.</p>
          <Link href="/sessions/new" className="button primary">
            Start your first session
          </Link>
        </div>
      ) : (
        <ul className="session-list">
          {sessions.map((s) => (
            <li key={s.id} className="session-card">
              <h2>
                <Link href={`/sessions/${s.id}`}>{s.title}</Link>
              </h2>
              <p className="muted small">
                {statusLabel(s)} · started {new Date(s.created_at).toLocaleDateString()}
              </p>
              <div className="progress-row">
                <progress max={1} value={s.progress} aria-label={`Progress of ${s.title}`} />
                <span className="small">
                  {s.sections_filled} of {s.sections_total} sections written
                </span>
              </div>
              <SessionControls session={s} fromCache={first.fromCache} onRenamed={(next) => changed(s.id, next)} onDeleted={() => changed(s.id, null)} />
            </li>
          ))}
        </ul>
      )}
      {moreError !== null && <ErrorNotice error={moreError} onRetry={loadMore} compact />}
      {next && (
        <button type="button" className="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Show more sessions'}
        </button>
      )}
    </section>
  );
}

function statusLabel(s: Session): string {
  if (s.status === 'completed') return 'Completed';
  if (s.status === 'abandoned') return 'Abandoned';
  const step = s.steps.find((st) => st.id === s.current_step);
  return step ? `In progress: ${step.title}` : 'In progress';
}
