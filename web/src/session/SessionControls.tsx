import { useEffect, useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import { paths } from '../api/paths';
import type { Session } from '../api/types';
import { CharCounter, describedBy, FieldNote } from '../components/FieldHelp';
import { ErrorNotice } from '../components/ErrorNotice';
import { useLimits } from '../lib/about';
import { connection, isOffline } from '../lib/connection';
import { fieldError } from '../lib/errors';
import { countChars } from '../lib/limits';
import { deleteSession, renameSession } from '../lib/sessions';
import { useStore } from '../lib/store';

interface Props {
  session: Session;
  onRenamed: (next: Session) => void;
  onDeleted: () => void;
  /** Shown from a saved copy: the server is not there to ask. */
  fromCache?: boolean;
}

type Mode = 'idle' | 'renaming' | 'deleting';

/** "Rename" and "Delete…" of one session, with the form and the question they open in place.
 * Both need the server: offline they are switched off with a note saying so. */
export function SessionControls({ session, onRenamed, onDeleted, fromCache = false }: Props) {
  const [mode, setMode] = useState<Mode>('idle');
  const offline = isOffline(useStore(connection)) || fromCache;
  const uid = useId();
  const renameButton = useRef<HTMLButtonElement>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);

  // Focus goes back where the person started, once the button is there again.
  const focusAfter = useRef<RefObject<HTMLButtonElement | null> | null>(null);
  useEffect(() => {
    if (mode !== 'idle' || !focusAfter.current) return;
    focusAfter.current.current?.focus();
    focusAfter.current = null;
  }, [mode]);
  function close(back: RefObject<HTMLButtonElement | null>) {
    focusAfter.current = back;
    setMode('idle');
  }

  if (mode === 'renaming') {
    return (
      <RenameForm
        session={session}
        idPrefix={uid}
        offline={offline}
        onCancel={() => close(renameButton)}
        onRenamed={(next) => {
          onRenamed(next);
          close(renameButton);
        }}
      />
    );
  }
  return (
    <div className="session-controls">
      <div className="row">
        <button ref={renameButton} type="button" className="button small" disabled={offline} onClick={() => setMode('renaming')}>
          Rename<span className="visually-hidden"> {session.title}</span>
        </button>
        <button
          ref={deleteButton}
          type="button"
          className="button small"
          disabled={offline || mode === 'deleting'}
          onClick={() => setMode('deleting')}
        >
          Delete<span className="visually-hidden"> {session.title}</span>
        </button>
        {offline && <span className="muted small">Renaming and deleting need a connection.</span>}
      </div>
      {mode === 'deleting' && (
        <DeleteQuestion session={session} idPrefix={uid} offline={offline} onCancel={() => close(deleteButton)} onDeleted={onDeleted} />
      )}
    </div>
  );
}

const TITLE_LABELS = { title: 'The title' };

function RenameForm({
  session,
  idPrefix,
  offline,
  onCancel,
  onRenamed,
}: {
  session: Session;
  idPrefix: string;
  offline: boolean;
  onCancel: () => void;
  onRenamed: (next: Session) => void;
}) {
  const [title, setTitle] = useState(session.title);
  const [checked, setChecked] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const max = useLimits().title;
  const count = countChars(title.trim(), max);
  const refused = fieldError(error, TITLE_LABELS);
  const note = checked ?? (refused ? `${refused.message} ${refused.hint}`.trim() : null);
  const inputId = `${idPrefix}-title`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const next = title.trim();
    const problem = !next ? 'Give the session a title.' : count.over ? `The title is too long: at most ${max.toLocaleString('en-US')} characters.` : null;
    setChecked(problem);
    setError(null);
    if (problem) return;
    if (next === session.title) return onCancel();
    setBusy(true);
    try {
      onRenamed(await renameSession(session.id, next));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form className="rename-form" onSubmit={submit} aria-label={`Rename ${session.title}`}>
      <label htmlFor={inputId}>New title</label>
      <div className="row">
        <input
          id={inputId}
          value={title}
          autoFocus
          onChange={(e) => setTitle(e.target.value)}
          onKeyDown={(e) => e.key === 'Escape' && onCancel()}
          aria-invalid={note ? true : undefined}
          aria-describedby={describedBy(note && `${inputId}-error`, count.show && `${inputId}-count`)}
        />
        <button type="submit" className="button small primary" disabled={busy || offline}>
          {busy ? 'Saving…' : 'Save title'}
        </button>
        <button type="button" className="button small" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
      <FieldNote id={`${inputId}-error`} message={note} />
      <CharCounter id={`${inputId}-count`} count={count} />
      {error !== null && !refused && <ErrorNotice error={error} compact />}
    </form>
  );
}

function DeleteQuestion({
  session,
  idPrefix,
  offline,
  onCancel,
  onDeleted,
}: {
  session: Session;
  idPrefix: string;
  offline: boolean;
  onCancel: () => void;
  onDeleted: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const questionId = `${idPrefix}-delete-question`;

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await deleteSession(session);
      onDeleted();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <div className="confirm confirm-danger" role="group" aria-labelledby={questionId} data-testid="delete-question">
      <p id={questionId}>
        Delete “{session.title}”? Its conversation, its documents and their history are deleted for good; this cannot be undone.
      </p>
      {error !== null && <ErrorNotice error={error} compact />}
      <div className="row">
        <button type="button" className="button danger" onClick={confirm} disabled={busy || offline} autoFocus>
          {busy ? 'Deleting…' : 'Yes, delete it'}
        </button>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** The whole plan as one file: links the browser downloads with the sign-in cookie. They need
 * the server, so offline they are plain words with the same note as rename and delete. */
export function ExportLinks({ sessionId, offline }: { sessionId: string; offline: boolean }) {
  const formats = [
    { format: 'md' as const, label: 'Markdown' },
    { format: 'docx' as const, label: 'Word' },
  ];
  return (
    <p className="export-links small" data-testid="export-plan">
      <span>Export plan:</span>{' '}
      {formats.map(({ format, label }, i) => (
        <span key={format}>
          {i > 0 && ' · '}
          {offline ? (
            <span className="muted">{label}</span>
          ) : (
            <a href={paths.exportPlan(sessionId, format)} download aria-label={`Export the plan as ${label}`}>
              {label}
            </a>
          )}
        </span>
      ))}
    </p>
  );
}
