// The session page's first reads, started from its address alone: the session, its documents
// and its conversation at once, and the document it will show as soon as both the session and
// the list say which one that is. Without this they waited for the sign-in check, and the
// conversation and the document each for an earlier answer.

import { paths } from '../api/paths';
import type { DocumentList, DocumentSummary, Session } from '../api/types';
import { forgetPrefetched, prefetch } from '../lib/prefetch';
import { onOutboxEvent } from '../lib/sync';

export function prefetchSession(id: string): void {
  watchOutbox();
  const session = prefetch<Session>(paths.session(id));
  const documents = prefetch<DocumentList>(paths.documents(id));
  prefetch(paths.messages(id));
  Promise.all([session, documents]).then(
    ([s, list]) => {
      const docId = pickDocument(list.data.items, null, s.data.current_step ?? null);
      if (docId) prefetch(paths.document(id, docId));
    },
    // The page shows what failed when it takes those reads.
    () => {},
  );
}

// The outbox is sent as soon as someone is signed in: a message delivered or an edit saved
// there is not in what was read before, so reads of that session not yet taken are dropped
// and the page reads afresh.
let watching = false;
function watchOutbox(): void {
  if (watching) return;
  watching = true;
  onOutboxEvent((event) => {
    if (event.type === 'delivered' || event.type === 'saved') forgetPrefetched(paths.session(event.item.sessionId));
    if (event.type === 'conflict') forgetPrefetched(paths.session(event.conflict.edit.sessionId));
  });
}

/** The document shown: the one chosen, else the current step's, else the latest. */
export function pickDocument(docs: DocumentSummary[], chosen: string | null, currentStep: string | null): string | null {
  if (chosen && docs.some((d) => d.id === chosen)) return chosen;
  const current = docs.find((d) => d.step_id === currentStep);
  return (current ?? docs[docs.length - 1])?.id ?? null;
}
