import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { CreateSession, Session, WorkflowList } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { CharCounter, describedBy, FieldNote } from '../components/FieldHelp';
import { fieldError } from '../lib/errors';
import { useLimits } from '../lib/about';
import { countChars } from '../lib/limits';
import { useFlag } from '../lib/flags';
import { navigate } from '../lib/router';
import { useResource } from '../lib/useResource';

interface Example {
  title: string;
  idea: string;
}

/** Sample ideas that fill the form, for people who want to see how a session goes first. */
const EXAMPLES: readonly Example[] = [
  {
    title: 'Recipe Box',
    idea: "Families share their recipes and plan the week's meals together; the shopping list fills itself from the plan, and whoever is at the shop ticks things off.",
  },
  {
    title: 'Tool Library',
    idea: 'Neighbours lend and borrow tools instead of each buying their own: list what you have, reserve what you need for a weekend, and get a reminder to bring it back.',
  },
  {
    title: 'Clinic Reminders',
    idea: 'Small physiotherapy and dental practices cut missed appointments with text reminders that patients can confirm or move with one tap, without calling the front desk.',
  },
];

const FIELD_LABELS = { title: 'The title', idea: 'Your idea' };

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
  const showExamples = useFlag('new-session.examples', false);
  const [picked, setPicked] = useState('');

  const items = workflows.data?.items ?? [];
  // The workflow asked for, or the first one offered when it is not (a feature flag can keep
  // one back from this person).
  const selected = items.find((w) => w.id === workflowId) ?? items[0];

  function fillExample(example: Example) {
    const untouched = (title === '' && idea === '') || EXAMPLES.some((e) => e.title === title && e.idea === idea);
    if (!untouched && !window.confirm('Replace your title and idea with this example?')) return;
    setTitle(example.title);
    setIdea(example.idea);
    setPicked(`The “${example.title}” example is in the title and idea fields; change it as you like.`);
  }

  const limits = useLimits();
  const titleCount = countChars(title.trim(), limits.title);
  const ideaCount = countChars(idea.trim(), limits.idea);
  // Checked here first (the server checks again): a title is never cut, it is refused whole.
  const [checked, setChecked] = useState<Record<string, string>>({});
  const serverField = fieldError(error, FIELD_LABELS);
  const fieldMessage = (field: 'title' | 'idea') => checked[field] ?? (serverField?.field === field ? serverField.message : null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!title.trim()) problems.title = 'Give the session a title.';
    else if (titleCount.over) problems.title = `The title is too long: at most ${limits.title} characters. Shorten it; nothing is cut off for you.`;
    if (!idea.trim()) problems.idea = 'Describe your idea in a few words.';
    else if (ideaCount.over) problems.idea = `Your idea is too long: at most ${limits.idea.toLocaleString('en-US')} characters.`;
    setChecked(problems);
    if (Object.keys(problems).length > 0) {
      document.getElementById(problems.title ? 'title' : 'idea')?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body: CreateSession = { workflow_id: selected?.id ?? workflowId, title: title.trim(), idea: idea.trim() };
      const session = await api.post<Session>(paths.sessions(), body);
      navigate(`/sessions/${session.id}`, { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

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
              <input type="radio" name="workflow" value={w.id} checked={selected?.id === w.id} onChange={() => setWorkflowId(w.id)} />
              <span>
                <strong>{w.name}</strong>
                <span className="muted small"> — {w.steps.map((s) => s.title).join(' → ')}</span>
              </span>
            </label>
          ))}
          {selected?.description && <p className="muted small">{selected.description}</p>}
        </fieldset>
        {showExamples && (
          <fieldset className="field">
            <legend>Start from an example</legend>
            <div className="row">
              {EXAMPLES.map((example) => (
                <button key={example.title} type="button" className="button small" onClick={() => fillExample(example)}>
                  {example.title}
                </button>
              ))}
            </div>
            <p className="visually-hidden" role="status">
              {picked}
            </p>
          </fieldset>
        )}
        <div className="field">
          <label htmlFor="title">Title</label>
          <input
            id="title"
            required
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            placeholder="e.g. Recipe Box"
            aria-invalid={fieldMessage('title') ? true : undefined}
            aria-describedby={describedBy(fieldMessage('title') && 'title-error', titleCount.show && 'title-count')}
          />
          <FieldNote id="title-error" message={fieldMessage('title')} />
          <CharCounter id="title-count" count={titleCount} />
        </div>
        <div className="field">
          <label htmlFor="idea">Your idea</label>
          <textarea
            id="idea"
            required
            rows={5}
            value={idea}
            onChange={(e) => setIdea(e.target.value)}
            aria-invalid={fieldMessage('idea') ? true : undefined}
            aria-describedby={describedBy(fieldMessage('idea') && 'idea-error', 'idea-help', ideaCount.show && 'idea-count')}
            placeholder="What do you want to build, for whom, and why?"
          />
          <FieldNote id="idea-error" message={fieldMessage('idea')} />
          <CharCounter id="idea-count" count={ideaCount} />
          <p id="idea-help" className="muted small">
            A few sentences are enough; the planning agent will ask what it needs.
          </p>
        </div>
        {error !== null && !serverField && <ErrorNotice error={error} />}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start session'}
        </button>
      </form>
    </>
  );
}
