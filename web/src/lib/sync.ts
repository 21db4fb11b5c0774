// The running outbox: holds the queued items and conflicts for the UI, sends them when the
// connection allows, retries with backoff while the server cannot be reached.

import { api } from '../api/client';
import { paths } from '../api/paths';
import type { EditSection, PlanDocument, PostMessage, PostMessageResponse, RevisionResponse } from '../api/types';
import { backoffDelay } from './backoff';
import { idbAll, idbDelete, idbPut } from './idb';
import {
  flushOutbox,
  idbOutboxStorage,
  newClientId,
  type Conflict,
  type EditItem,
  type FlushEvent,
  type MessageItem,
  type OutboxItem,
  type OutboxTransport,
} from './outbox';
import { createStore } from './store';

export const outboxItems = createStore<OutboxItem[]>([]);
export const conflicts = createStore<Conflict[]>([]);

const eventListeners = new Set<(e: FlushEvent) => void>();
export function onOutboxEvent(listener: (e: FlushEvent) => void): () => void {
  eventListeners.add(listener);
  return () => eventListeners.delete(listener);
}

export const httpTransport: OutboxTransport = {
  postMessage: (item) =>
    api.post<PostMessageResponse>(
      paths.messages(item.sessionId),
      { content: item.content } satisfies PostMessage,
      { headers: { 'idempotency-key': item.clientId } },
    ),
  putSection: (item, baseRevision) =>
    api.put<RevisionResponse>(
      paths.section(item.sessionId, item.documentId, item.sectionId),
      { content: item.content, base_revision: baseRevision } satisfies EditSection,
    ),
  getDocument: (sessionId, documentId) =>
    api.get<PlanDocument>(paths.document(sessionId, documentId)),
};

export async function refreshOutbox(): Promise<void> {
  try {
    outboxItems.set(await idbOutboxStorage.all());
    conflicts.set(await idbAll<Conflict>('conflicts'));
  } catch {
    // IndexedDB unavailable (private mode): the in-memory lists stay as they are.
  }
}

let flushing: Promise<void> | null = null;
let again = false;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let attempt = 0;
let unauthorizedHandler: () => void = () => {};

export function setUnauthorizedHandler(handler: () => void) {
  unauthorizedHandler = handler;
}

/** Sends what is queued. Safe to call any time; concurrent calls coalesce. */
export function flush(): Promise<void> {
  if (flushing) {
    again = true;
    return flushing;
  }
  if (retryTimer) {
    clearTimeout(retryTimer);
    retryTimer = null;
  }
  flushing = (async () => {
    do {
      again = false;
      let retryAfterMs = 0;
      const run = () =>
        flushOutbox(idbOutboxStorage, httpTransport, (event) => {
          if (event.type === 'paused') retryAfterMs = event.error.retryAfterMs ?? 0;
          eventListeners.forEach((l) => l(event));
          void refreshOutbox();
        });
      // One tab at a time sends the outbox (tabs share IndexedDB).
      const result =
        typeof navigator !== 'undefined' && navigator.locks
          ? await navigator.locks.request('plansmith-outbox', run)
          : await run();
      await refreshOutbox();
      if (result === 'offline') {
        attempt += 1;
        retryTimer = setTimeout(() => void flush(), Math.max(backoffDelay(attempt), retryAfterMs));
        break;
      }
      attempt = 0;
      if (result === 'unauthorized') unauthorizedHandler();
    } while (again);
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

export async function queueMessage(sessionId: string, content: string): Promise<void> {
  const item: MessageItem = {
    kind: 'message',
    clientId: newClientId(),
    sessionId,
    content,
    createdAt: Date.now(),
    state: 'pending',
  };
  await enqueue(item);
}

export async function queueEdit(edit: Omit<EditItem, 'kind' | 'clientId' | 'createdAt' | 'state'>): Promise<void> {
  await enqueue({ ...edit, kind: 'edit', clientId: newClientId(), createdAt: Date.now(), state: 'pending' });
}

async function enqueue(item: OutboxItem): Promise<void> {
  try {
    item.id = await idbOutboxStorage.put(item);
  } catch {
    // No IndexedDB: keep it in memory for this page's life.
    item.id = -Date.now();
  }
  outboxItems.set((items) => [...items.filter((i) => i.id !== item.id), item]);
  void flush();
}

export async function retryItem(item: OutboxItem): Promise<void> {
  await idbPut('outbox', { ...item, state: 'pending', error: undefined });
  await refreshOutbox();
  void flush();
}

export async function discardItem(item: OutboxItem): Promise<void> {
  if (item.id !== undefined) await idbDelete('outbox', item.id).catch(() => {});
  await refreshOutbox();
}

/** Keep mine: send my text on top of the current revision. Keep theirs: drop my edit. */
export async function resolveConflict(conflict: Conflict, choice: 'mine' | 'theirs'): Promise<void> {
  if (conflict.id !== undefined) await idbDelete('conflicts', conflict.id).catch(() => {});
  if (choice === 'mine') {
    const { edit } = conflict;
    await queueEdit({
      sessionId: edit.sessionId,
      documentId: edit.documentId,
      sectionId: edit.sectionId,
      sectionTitle: edit.sectionTitle,
      content: edit.content,
      baseRevision: conflict.currentRevision,
      baseContent: conflict.theirs,
    });
  }
  await refreshOutbox();
}

/** A session is gone: nothing of it waits to be sent, no conflict of it waits for a choice. */
export async function dropSession(sessionId: string): Promise<void> {
  try {
    const items = await idbOutboxStorage.all();
    await Promise.all(items.filter((i) => i.sessionId === sessionId && i.id !== undefined).map((i) => idbDelete('outbox', i.id!)));
    const open = await idbAll<Conflict>('conflicts');
    await Promise.all(open.filter((c) => c.edit.sessionId === sessionId && c.id !== undefined).map((c) => idbDelete('conflicts', c.id!)));
  } catch {
    // No IndexedDB: the in-memory list is filtered below.
  }
  outboxItems.set((items) => items.filter((i) => i.sessionId !== sessionId));
  conflicts.set((list) => list.filter((c) => c.edit.sessionId !== sessionId));
}
