import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiError, networkError } from '../api/client';
import type { PlanDocument, PostMessageResponse } from '../api/types';
import { idbAll, idbClear } from './idb';
import {
  flushOutbox,
  idbOutboxStorage,
  rebaseRevision,
  type Conflict,
  type EditItem,
  type MessageItem,
  type OutboxTransport,
} from './outbox';

let n = 0;
function message(content: string, sessionId = 's1'): MessageItem {
  n += 1;
  return { kind: 'message', clientId: `c${n}`, sessionId, content, createdAt: n, state: 'pending' };
}
function edit(sectionId: string, content: string, baseRevision: number, baseContent = ''): EditItem {
  n += 1;
  return {
    kind: 'edit',
    clientId: `c${n}`,
    sessionId: 's1',
    documentId: 'd1',
    sectionId,
    sectionTitle: sectionId,
    content,
    baseRevision,
    baseContent,
    createdAt: n,
    state: 'pending',
  };
}

/** A fake server holding one document, with the API's revision rule. */
function fakeServer(sections: Record<string, string>, revision = 1) {
  const doc = { revision, sections: { ...sections } };
  const sent: string[] = [];
  let offline = false;
  const transport: OutboxTransport = {
    async postMessage(item) {
      if (offline) throw networkError();
      sent.push(`message:${item.content}`);
      return { message: { id: item.clientId }, reply: { id: `r-${item.clientId}` } } as unknown as PostMessageResponse;
    },
    async putSection(item, base) {
      if (offline) throw networkError();
      if (base !== doc.revision) {
        throw new ApiError(409, 'revision_conflict', `The document is at revision ${doc.revision}.`, 'Reload it.', 'req-1');
      }
      sent.push(`edit:${item.sectionId}=${item.content}@${base}`);
      doc.sections[item.sectionId] = item.content;
      doc.revision += 1;
      return { revision: doc.revision };
    },
    async getDocument() {
      if (offline) throw networkError();
      return {
        id: 'd1',
        revision: doc.revision,
        sections: Object.entries(doc.sections).map(([id, content]) => ({ id, title: id, content })),
      } as PlanDocument;
    },
  };
  return {
    doc,
    sent,
    transport,
    setOffline: (v: boolean) => {
      offline = v;
    },
  };
}

beforeEach(async () => {
  await idbClear('outbox');
  await idbClear('conflicts');
});

async function enqueue(...items: (MessageItem | EditItem)[]) {
  for (const item of items) await idbOutboxStorage.put(item);
}

describe('offline outbox', () => {
  it('sends queued items in the order they were made', async () => {
    const server = fakeServer({ a: '' });
    await enqueue(message('first'), edit('a', 'A1', 1), message('second'), message('third'));
    const delivered: string[] = [];
    const result = await flushOutbox(idbOutboxStorage, server.transport, (e) => {
      if (e.type === 'delivered') delivered.push(e.item.content);
    });
    expect(result).toBe('sent');
    expect(server.sent).toEqual(['message:first', 'edit:a=A1@1', 'message:second', 'message:third']);
    expect(delivered).toEqual(['first', 'second', 'third']);
    expect(await idbOutboxStorage.all()).toEqual([]);
  });

  it('stops at a network failure without skipping ahead, then resumes in order', async () => {
    const server = fakeServer({});
    await enqueue(message('one'), message('two'), message('three'));
    server.setOffline(true);
    expect(await flushOutbox(idbOutboxStorage, server.transport)).toBe('offline');
    expect(server.sent).toEqual([]);
    expect((await idbOutboxStorage.all()).map((i) => (i as MessageItem).content)).toEqual(['one', 'two', 'three']);
    // Queued while still offline: goes after the others.
    await enqueue(message('four'));
    server.setOffline(false);
    expect(await flushOutbox(idbOutboxStorage, server.transport)).toBe('sent');
    expect(server.sent).toEqual(['message:one', 'message:two', 'message:three', 'message:four']);
  });

  it('a rejected item is marked failed with a human message and does not block the rest', async () => {
    const server = fakeServer({});
    const original = server.transport.postMessage;
    server.transport.postMessage = async (item) => {
      if (item.content === 'bad') throw new ApiError(400, 'invalid_field', 'content: is too long', 'Split the text.', 'req-9');
      return original(item);
    };
    await enqueue(message('bad'), message('good'));
    await flushOutbox(idbOutboxStorage, server.transport);
    expect(server.sent).toEqual(['message:good']);
    const [left] = await idbOutboxStorage.all();
    expect(left.state).toBe('failed');
    expect(left.error).toMatchObject({ message: 'Content is too long.', hint: 'Split the text.', requestId: null });
  });

  it('two offline edits of one document both apply: the second follows the first one’s revision', async () => {
    const server = fakeServer({ a: 'a0', b: 'b0' }, 4);
    await enqueue(edit('a', 'a1', 4, 'a0'), edit('b', 'b1', 4, 'b0'));
    await flushOutbox(idbOutboxStorage, server.transport);
    expect(server.sent).toEqual(['edit:a=a1@4', 'edit:b=b1@5']);
    expect(await idbAll<Conflict>('conflicts')).toEqual([]);
  });

  it('an edit whose section is unchanged on the server is applied on the newer revision', async () => {
    const server = fakeServer({ a: 'a0', b: 'b0' }, 4);
    // The agent changed section b meanwhile.
    server.doc.sections.b = 'b-agent';
    server.doc.revision = 5;
    await enqueue(edit('a', 'mine', 4, 'a0'));
    await flushOutbox(idbOutboxStorage, server.transport);
    expect(server.sent).toEqual(['edit:a=mine@5']);
    expect(await idbAll<Conflict>('conflicts')).toEqual([]);
  });

  it('an edit of a section that changed on the server becomes a conflict with both versions', async () => {
    const server = fakeServer({ a: 'a0' }, 4);
    server.doc.sections.a = 'theirs';
    server.doc.revision = 5;
    await enqueue(edit('a', 'mine', 4, 'a0'), message('after'));
    const events: string[] = [];
    await flushOutbox(idbOutboxStorage, server.transport, (e) => events.push(e.type));
    expect(events).toEqual(['conflict', 'delivered']);
    const [conflict] = await idbAll<Conflict>('conflicts');
    expect(conflict.edit.content).toBe('mine');
    expect(conflict.theirs).toBe('theirs');
    expect(conflict.currentRevision).toBe(5);
    expect(server.doc.sections.a).toBe('theirs');
    expect(await idbOutboxStorage.all()).toEqual([]);
  });
});

describe('rebaseRevision', () => {
  it('follows a chain of our own edits', () => {
    expect(rebaseRevision(4, [{ from: 4, to: 5 }, { from: 5, to: 6 }])).toBe(6);
    expect(rebaseRevision(3, [{ from: 4, to: 5 }])).toBe(3);
  });
});

describe('limits', () => {
  it('a used-up monthly budget (429 over_budget) fails the message with the server’s words instead of retrying forever', async () => {
    const server = fakeServer({});
    server.transport.postMessage = async () => {
      throw new ApiError(429, 'over_budget', 'You have used 50000 of the 50000 tokens your free plan includes this month.', 'The budget resets on 2026-12-01 (UTC). Upgrade your plan to keep planning now.', 'r1', 86_400_000);
    };
    await enqueue(message('one more question'));
    expect(await flushOutbox(idbOutboxStorage, server.transport)).toBe('sent');
    const [item] = await idbOutboxStorage.all();
    expect(item.state).toBe('failed');
    expect(item.error?.message).toContain('tokens your free plan includes');
    expect(item.error?.hint).toContain('resets on 2026-12-01');
  });

  it('a short rate limit (429 rate_limited) pauses the outbox in order, with the server’s Retry-After', async () => {
    const server = fakeServer({});
    server.transport.postMessage = async () => {
      throw new ApiError(429, 'rate_limited', 'Too many messages.', 'Wait 3 seconds and try again.', 'r2', 3000);
    };
    await enqueue(message('a'), message('b'));
    const paused: number[] = [];
    expect(
      await flushOutbox(idbOutboxStorage, server.transport, (e) => {
        if (e.type === 'paused') paused.push(e.error.retryAfterMs ?? 0);
      }),
    ).toBe('offline');
    expect(paused).toEqual([3000]);
    expect((await idbOutboxStorage.all()).map((i) => i.state)).toEqual(['pending', 'pending']);
  });
});
