import { useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { Session } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';

/** The workflow's steps with progress, and the actions that move the session along. */
export function StepsBar({ session, onChanged }: { session: Session; onChanged: (s: Session) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const current = session.steps.find((s) => s.id === session.current_step);
  const active = session.status === 'active';

  async function run(path: string) {
    setBusy(true);
    setError(null);
    try {
      onChanged(await api.post<Session>(path));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="steps" aria-label="Workflow steps">
      <ol className="step-list">
        {session.steps.map((s, i) => (
          <li key={s.id} className={`step step-${s.status}`} aria-current={s.status === 'current' ? 'step' : undefined} data-testid="step" data-status={s.status}>
            <span className="step-number" aria-hidden="true">
              {s.status === 'completed' ? '✓' : i + 1}
            </span>
            <span>
              {s.title}
              <span className="visually-hidden">
                {s.status === 'completed' ? ' (completed)' : s.status === 'current' ? ' (current)' : ' (not started)'}
              </span>
            </span>
          </li>
        ))}
      </ol>
      <div className="progress-row">
        <progress max={1} value={session.progress} aria-label="Sections written" />
        <span className="small" data-testid="progress-text">
          {session.sections_filled} of {session.sections_total} sections written
        </span>
      </div>
      <div className="row">
        {active && current && (
          <button type="button" className="button" disabled={busy} onClick={() => run(paths.completeStep(session.id, current.id))}>
            Complete step: {current.title}
          </button>
        )}
        {active && !current && (
          <button type="button" className="button primary" disabled={busy} onClick={() => run(paths.completeSession(session.id))}>
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
      {error !== null && <ErrorNotice error={error} compact />}
    </section>
  );
}
