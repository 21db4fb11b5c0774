// What the person writes is never lost: messages and section edits go into an outbox in
// IndexedDB first and are sent from there, one at a time and in the order they were made.
// Offline (or while the server is unreachable) they wait, shown as pending; when the
// connection is back the outbox is flushed. An edit whose section changed on the server
// meanwhile becomes a conflict that shows both versions and lets the person choose.

import type { PlanDocument, PostMessageResponse, RevisionResponse } from '../api/types';
import { ApiError } from '../api/client';
import { humanError, type HumanError } from './errors';
import { idbAll, idbDelete, idbPut } from './idb';

interface ItemBase {
  id?: number;
  /** Sent as Idempotency-Key so a retried send after a lost response is not doubled. */
  clientId: string;
  sessionId: string;
  createdAt: number;
  state: 'pending' | 'failed';
  error?: HumanError;
}

export interface MessageItem extends ItemBase {
  kind: 'message';
  content: string;
}

export interface EditItem extends ItemBase {
  kind: 'edit';
  documentId: string;
  sectionId: string;
  sectionTitle: string;
  content: string;
  /** The document revision the person was looking at when editing. */
  baseRevision: number;
  /** The section's content they started from: tells a real conflict from a harmless one. */
  baseContent: string;
}

export type OutboxItem = MessageItem | EditItem;

export interface Conflict {
  id?: number;
  edit: EditItem;
  /** The section on the server now. */
  theirs: string;
  currentRevision: number;
}

export interface OutboxTransport {
  postMessage(item: MessageItem): Promise<PostMessageResponse>;
  putSection(item: EditItem, baseRevision: number): Promise<Pick<RevisionResponse, 'revision'>>;
  getDocument(sessionId: string, documentId: string): Promise<PlanDocument>;
}

export interface OutboxStorage {
  all(): Promise<OutboxItem[]>;
  put(item: OutboxItem): Promise<number>;
  remove(id: number): Promise<void>;
  addConflict(conflict: Conflict): Promise<number>;
}

export type FlushEvent =
  | { type: 'delivered'; item: MessageItem; response: PostMessageResponse }
  | { type: 'saved'; item: EditItem; revision: number }
  | { type: 'conflict'; conflict: Conflict }
  | { type: 'failed'; item: OutboxItem; error: HumanError }
  /** Sending stopped at this item for now (no network, server busy); it is retried later. */
  | { type: 'paused'; item: OutboxItem; error: ApiError };

export type FlushResult = 'sent' | 'offline' | 'unauthorized';

export const idbOutboxStorage: OutboxStorage = {
  all: async () => (await idbAll<OutboxItem>('outbox')).sort((a, b) => (a.id ?? 0) - (b.id ?? 0)),
  put: async (item) => Number(await idbPut('outbox', item)),
  remove: (id) => idbDelete('outbox', id),
  addConflict: async (conflict) => Number(await idbPut('conflicts', conflict)),
};

/** Follows revisions our own earlier edits made (same flush): an edit based on revision 4
 * after our edit 4→5 is really based on 5, not in conflict with anyone. */
export function rebaseRevision(base: number, chain: ReadonlyArray<{ from: number; to: number }>): number {
  let revision = base;
  for (const step of chain) if (step.from === revision) revision = step.to;
  return revision;
}

/** Sends every pending item in order. Stops at the first transient failure (no network,
 * server down) so nothing overtakes what is still waiting. */
export async function flushOutbox(
  storage: OutboxStorage,
  transport: OutboxTransport,
  emit: (event: FlushEvent) => void = () => {},
): Promise<FlushResult> {
  const items = (await storage.all()).filter((i) => i.state === 'pending');
  const chains = new Map<string, { from: number; to: number }[]>();
  for (const item of items) {
    try {
      if (item.kind === 'message') {
        const response = await transport.postMessage(item);
        await storage.remove(item.id!);
        emit({ type: 'delivered', item, response });
      } else {
        const chain = chains.get(item.documentId) ?? [];
        const outcome = await sendEdit(item, rebaseRevision(item.baseRevision, chain), transport);
        await storage.remove(item.id!);
        if (outcome.type === 'saved') {
          chain.push({ from: outcome.base, to: outcome.revision });
          chains.set(item.documentId, chain);
          emit({ type: 'saved', item, revision: outcome.revision });
        } else {
          const conflict = { ...outcome.conflict };
          conflict.id = await storage.addConflict(conflict);
          emit({ type: 'conflict', conflict });
        }
      }
    } catch (error) {
      if (error instanceof ApiError && error.isTransient) {
        emit({ type: 'paused', item, error });
        return 'offline';
      }
      if (error instanceof ApiError && error.status === 401) return 'unauthorized';
      const failed = { ...item, state: 'failed' as const, error: humanError(error) };
      await storage.put(failed);
      emit({ type: 'failed', item: failed, error: failed.error });
    }
  }
  return 'sent';
}

type EditOutcome = { type: 'saved'; base: number; revision: number } | { type: 'conflict'; conflict: Conflict };

async function sendEdit(item: EditItem, base: number, transport: OutboxTransport): Promise<EditOutcome> {
  try {
    const { revision } = await transport.putSection(item, base);
    return { type: 'saved', base, revision };
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'revision_conflict') throw error;
  }
  // The document moved on. If this section is still what the person started from, the change
  // was elsewhere (another section, the agent): apply the edit on top. Otherwise ask them.
  const doc = await transport.getDocument(item.sessionId, item.documentId);
  const theirs = doc.sections.find((s) => s.id === item.sectionId)?.content ?? '';
  if (theirs === item.content) return { type: 'saved', base, revision: doc.revision };
  if (theirs === item.baseContent) {
    try {
      const { revision } = await transport.putSection(item, doc.revision);
      return { type: 'saved', base: doc.revision, revision };
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'revision_conflict') throw error;
      const again = await transport.getDocument(item.sessionId, item.documentId);
      const now = again.sections.find((s) => s.id === item.sectionId)?.content ?? '';
      return { type: 'conflict', conflict: { edit: item, theirs: now, currentRevision: again.revision } };
    }
  }
  return { type: 'conflict', conflict: { edit: item, theirs, currentRevision: doc.revision } };
}

export function newClientId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
