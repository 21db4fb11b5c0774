import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { PlanDocument, Session } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { emptySections } from './drafting';

interface Props {
  session: Session;
  onChanged: (s: Session) => void;
  /** The current step's document as last loaded (what is left to write), when known. */
  currentDoc: PlanDocument | undefined;
  /** Sections written across the session, including drafts arriving now. */
  filled: number;
  /** The agent is drafting the rest now. */
  drafting: boolean;
  onDraftTheRest: () => void;
}

/** The workflow's steps with progress, and the actions that move the session along. */
export function StepsBar({ session, onChanged, currentDoc, filled, drafting, onDraftTheRest }: Props) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // "Complete step" pressed while sections are still empty: say which, and offer the way on.
  const [offer, setOffer] = useState(false);
  const current = session.steps.find((s) => s.id === session.current_step);
  const currentIndex = session.steps.findIndex((s) => s.id === session.current_step);
  const active = session.status === 'active';
  const empty = currentDoc ? emptySections(currentDoc) : [];
  const left = drafting ? 0 : empty.length;
  const progressText = useRef<HTMLSpanElement>(null);
  // What the last action did, said where the keyboard lands afterwards (its button may be gone).
  const [done, setDone] = useState('');
  const doneNote = useRef<HTMLParagraphElement>(null);

  // The buttons that ask for drafts go away once asked: keep the keyboard's place on the progress,
  // which says that the agent is drafting — unless something else took the keyboard meanwhile
  // (the consent notice, asked for before the request goes out).
  function draft() {
    onDraftTheRest();
    requestAnimationFrame(() => {
      const active = document.activeElement;
      if (!active || active === document.body || active.closest('.steps')) progressText.current?.focus();
    });
  }

  useEffect(() => {
    if (left === 0) setOffer(false);
  }, [left]);
  useEffect(() => {
    if (done) doneNote.current?.focus();
  }, [done]);

  async function run(path: string, said?: (next: Session) => string) {
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const next = await api.post<Session>(path);
      onChanged(next);
      if (said) setDone(said(next));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  function completeStep() {
    if (!current) return;
    if (left > 0) {
      setOffer(true);
      return;
    }
    const title = current.title;
    void run(paths.completeStep(session.id, current.id), (next) => {
      const upcoming = next.steps.find((s) => s.id === next.current_step);
      if (upcoming) return `“${title}” is complete. Next: ${upcoming.title}.`;
      return next.status === 'completed' ? `“${title}” is complete, and so is the session.` : `“${title}” is complete: finish the session when you are ready.`;
    });
  }

  const total = session.sections_total;
  return (
    <section className="steps" aria-label="Workflow steps">
      <ol className="step-list">
        {session.steps.map((s, i) => (
          <li key={s.id} className={`step step-${s.status}`} aria-current={s.status === 'current' ? 'step' : undefined} data-testid="step" data-status={s.status}>
            <span className="step-number" aria-hidden="true">
              {s.status === 'completed' ? '✓' : i + 1}
            </span>
            <span className="step-title">
              {s.title}
              <span className="visually-hidden">
                {s.status === 'completed' ? ' (completed)' : s.status === 'current' ? ' (current)' : ' (not started)'}
              </span>
            </span>
          </li>
        ))}
      </ol>
      {current && (
        <p className="step-now small">
          Step {currentIndex + 1} of {session.steps.length}: {current.title}
        </p>
      )}
      <div className="steps-actions">
        <div className="progress-row">
          <progress max={total || 1} value={filled} aria-label="Sections written" data-testid="progress" />
          <span className="small" data-testid="progress-text" ref={progressText} tabIndex={-1}>
            {filled} of {total} sections written
            {drafting && ' · the agent is drafting'}
          </span>
        </div>
        <div className="row">
          {active && current && left > 0 && (
            <button type="button" className="button primary" disabled={busy} onClick={draft}>
              Draft the rest
            </button>
          )}
          {active && current && (
            <button
              type="button"
              className={left > 0 ? 'button' : 'button primary'}
              disabled={busy || drafting}
              onClick={completeStep}
              aria-describedby={offer ? 'step-offer' : undefined}
            >
              {busy ? 'Completing…' : `Complete step: ${current.title}`}
              {left > 0 && <span className="badge badge-left">{left === 1 ? '1 section left' : `${left} sections left`}</span>}
            </button>
          )}
          {active && !current && (
            <button type="button" className="button primary" disabled={busy} onClick={() => run(paths.completeSession(session.id), () => 'The session is complete.')}>
              Finish session
            </button>
          )}
          {active && (
            <button
              type="button"
              className="button subtle"
              disabled={busy}
              onClick={() => {
                if (window.confirm('Abandon this session? You can still read it, but not continue it.')) void run(paths.abandonSession(session.id));
              }}
            >
              Abandon session
            </button>
          )}
          {!active && <p className="muted">This session is {session.status}.</p>}
        </div>
      </div>
      {offer && left > 0 && current && (
        <div className="notice notice-info compact" id="step-offer" role="status" data-testid="step-offer">
          <p>
            {left === 1 ? 'One section' : `${left} sections`} of the {currentDoc?.title ?? current.title} {left === 1 ? 'is' : 'are'} still empty:{' '}
            {empty.map((s) => s.title).join(', ')}.
          </p>
          <p>Let the agent draft {left === 1 ? 'it' : 'them'} now, or write {left === 1 ? 'it' : 'them'} yourself in the document.</p>
          <div className="row">
            <button type="button" className="button primary small" onClick={draft}>
              Draft the rest
            </button>
            <button type="button" className="button small" onClick={() => setOffer(false)}>
              Not now
            </button>
          </div>
        </div>
      )}
      {done && (
        <p className="step-done small" role="status" tabIndex={-1} ref={doneNote} data-testid="step-done">
          {done}
        </p>
      )}
      {error !== null && <ErrorNotice error={error} compact />}
    </section>
  );
}
