import { useOfflinePlanner } from '../lib/about';

/** Said once, calmly, where the replies appear: no model provider answers on this installation
 * (the server said so), so replies come from the built-in offline planner. Folded: one line
 * until opened, and the "how" is for whoever runs the server. */
export function OfflinePlannerNote() {
  if (!useOfflinePlanner()) return null;
  return (
    <details className="planner-note" data-testid="offline-planner-note">
      <summary>The built-in offline planner is answering.</summary>
      <div className="planner-note-body">
        <p>
          No AI model is connected to this Plansmith server, so the built-in offline planner answers. It asks its questions and drafts
          every section, so you can plan all the way through; an AI model gives answers that fit your idea much more closely.
        </p>
        <p>
          To connect one, whoever runs this Plansmith server adds a model provider to its settings file, an{' '}
          <code>[[llm.providers]]</code> entry (kind <code>openai</code> or <code>anthropic</code>, its address, model and API key), and
          puts its name first in <code>llm.route</code>, for example <code>route = ["primary", "offline"]</code>. The server's README
          explains it under “Model providers”.
        </p>
      </div>
    </details>
  );
}
