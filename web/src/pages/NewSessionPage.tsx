import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { CreateSession, Session, WorkflowList } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { navigate } from '../lib/router';
import { useResource } from '../lib/useResource';

export function NewSessionPage() {
  useEffect(() => {
    document.title = 'New session · Plansmith';
  }, []);
  const workflows = useResource<WorkflowList>(paths.workflows());
  const [workflowId, setWorkflowId] = useState('product-plan');
  const [title, setTitle] = useState('');
  const [idea, setIdea] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: CreateSession = { workflow_id: workflowId, title: title.trim(), idea: idea.trim() };
      const session = await api.post<Session>(paths.sessions(), body);
      navigate(`/sessions/${session.id}`, { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  const items = workflows.data?.items ?? [];
  const selected = items.find((w) => w.id === workflowId);
  return (
    <>
      <h1>Start a planning session</h1>
      {workflows.error !== null && !workflows.data && <ErrorNotice error={workflows.error} onRetry={workflows.reload} />}
      <form className="form wide" onSubmit={submit}>
        <fieldset className="field">
          <legend>Workflow</legend>
          {items.length === 0 && !workflows.error && <p aria-busy="true">Loading workflows…</p>}
          {items.map((w) => (
            <label key={w.id} className="choice">
              <input type="radio" name="workflow" value={w.id} checked={workflowId === w.id} onChange={() => setWorkflowId(w.id)} />
              <span>
                <strong>{w.name}</strong>
                <span className="muted small"> — {w.steps.map((s) => s.title).join(' → ')}</span>
              </span>
            </label>
          ))}
          {selected?.description && <p className="muted small">{selected.description}</p>}
        </fieldset>
        <div className="field">
          <label htmlFor="title">Title</label>
          <input id="title" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="e.g. Recipe Box" />
        </div>
        <div className="field">
          <label htmlFor="idea">Your idea</label>
          <textarea
            id="idea"
            required
            rows={5}
            value={idea}
            onChange={(e) => setIdea(e.target.value)}
            aria-describedby="idea-help"
            placeholder="What do you want to build, for whom, and why?"
          />
          <p id="idea-help" className="muted small">
            A few sentences are enough; the planning agent will ask what it needs.
          </p>
        </div>
        {error !== null && <ErrorNotice error={error} />}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start session'}
        </button>
      </form>
    </>
  );
}
