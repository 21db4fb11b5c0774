import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { humanError } from './errors';
import { idbAll, idbClear, idbGet, idbPut } from './idb';
import { deleteSession, lastDeleted } from './sessions';
import { outboxItems } from './sync';

const answer = (status: number, body?: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: body === undefined ? {} : { 'content-type': 'application/json' } });

beforeEach(async () => {
  await Promise.all([idbClear('kv'), idbClear('outbox'), idbClear('conflicts')]);
  lastDeleted.set(null);
  outboxItems.set([]);
});
afterEach(() => vi.unstubAllGlobals());

describe('deleteSession', () => {
  it('refuses in plain words while the agent writes a reply, and keeps everything', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        answer(409, { error: { code: 'reply_in_progress', message: 'The planning agent is still writing a reply in this session.', hint: 'Wait.', request_id: 'r' } }),
      ),
    );
    await idbPut('kv', { data: { id: 's1' }, savedAt: 1 }, '/api/v1/sessions/s1');
    const error = await deleteSession({ id: 's1', title: 'Busy' }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(humanError(error).message).toBe('The planning agent is still writing a reply in this session, so it cannot be deleted yet.');
    expect(humanError(error).hint).toMatch(/Wait until the reply is finished/);
    expect(await idbGet('kv', '/api/v1/sessions/s1')).toBeDefined();
    expect(lastDeleted.get()).toBeNull();
  });

  it('forgets what this device holds of the session, and nothing of the others', async () => {
    const fetch = vi.fn(async () => answer(204));
    vi.stubGlobal('fetch', fetch);
    await idbPut('kv', { data: {}, savedAt: 1 }, '/api/v1/sessions/s1');
    await idbPut('kv', { data: {}, savedAt: 1 }, '/api/v1/sessions/s1/documents');
    await idbPut('kv', { data: {}, savedAt: 1 }, '/api/v1/sessions/s10');
    await idbPut('outbox', { kind: 'message', clientId: 'a', sessionId: 's1', content: 'x', createdAt: 1, state: 'failed' });
    await idbPut('outbox', { kind: 'message', clientId: 'b', sessionId: 's2', content: 'y', createdAt: 2, state: 'failed' });

    await deleteSession({ id: 's1', title: 'Gone' });
    expect(fetch).toHaveBeenCalledWith('/api/v1/sessions/s1', expect.objectContaining({ method: 'DELETE' }));
    expect(await idbGet('kv', '/api/v1/sessions/s1')).toBeUndefined();
    expect(await idbGet('kv', '/api/v1/sessions/s1/documents')).toBeUndefined();
    expect(await idbGet('kv', '/api/v1/sessions/s10')).toBeDefined();
    expect((await idbAll<{ sessionId: string }>('outbox')).map((i) => i.sessionId)).toEqual(['s2']);
    expect(lastDeleted.get()).toEqual({ id: 's1', title: 'Gone' });
  });

  it('counts a session already gone (deleted in another tab) as deleted', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer(404, { error: { code: 'not_found', message: 'Not found.', hint: '', request_id: 'r' } })));
    await deleteSession({ id: 's3', title: 'Elsewhere' });
    expect(lastDeleted.get()).toEqual({ id: 's3', title: 'Elsewhere' });
  });
});
