import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Consent, Consents, User } from '../api/types';
import { currentUser } from './auth';
import {
  changeConsent,
  consents,
  consentStands,
  knownConsents,
  LLM_PROCESSING,
  llmNotice,
  loadConsents,
  rememberConsents,
  resetConsentsForTests,
} from './consent';
import { idbClear } from './idb';

const VERSION = '2026-12';
const user = (id: string): User => ({ id, email: `${id}@example.com`, name: null, plan: 'free', role: 'member' });

function consent(over: Partial<Consent> = {}): Consent {
  return { id: 'c1', kind: LLM_PROCESSING, version: VERSION, given_at: '2026-12-05T10:00:00Z', withdrawn_at: null, ...over };
}

/** The server's answer: `items` as held, the notice `given` as the server computes it. */
function answer(items: Consent[], given = items.some((c) => c.kind === LLM_PROCESSING && c.version === VERSION && !c.withdrawn_at)): Consents {
  return {
    items,
    notices: [{ kind: LLM_PROCESSING, version: VERSION, given, text: 'Replies are written by the built-in offline planner.' }],
  };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

beforeEach(() => currentUser.set(user('u1')));
afterEach(async () => {
  resetConsentsForTests();
  currentUser.set(undefined);
  vi.unstubAllGlobals();
  await idbClear('kv');
});

describe('consentStands', () => {
  it('stands for a consent to the current version that was not withdrawn', () => {
    expect(consentStands(answer([consent()]))).toBe(true);
  });

  it('does not stand before any consent, after a withdrawal, or for an older version only', () => {
    expect(consentStands(answer([]))).toBe(false);
    expect(consentStands(answer([consent({ withdrawn_at: '2026-12-06T10:00:00Z' })]))).toBe(false);
    expect(consentStands(answer([consent({ version: '2026-01' })]))).toBe(false);
    // Given again after withdrawing: the newest one stands.
    expect(consentStands(answer([consent({ withdrawn_at: '2026-12-06T10:00:00Z' }), consent({ id: 'c2' })]))).toBe(true);
  });

  it('asks again when the notice and the list disagree', () => {
    expect(consentStands(answer([consent()], false))).toBe(false);
    expect(consentStands(answer([], true))).toBe(false);
  });

  it('asks nothing when the server asks no such consent', () => {
    expect(consentStands({ items: [], notices: [] })).toBe(true);
    expect(llmNotice({ items: [], notices: [] })).toBeNull();
  });
});

describe('the consents kept on the device', () => {
  it('reads them once at a time and keeps them for the signed-in person only', async () => {
    const get = vi.fn(async () => ({ data: answer([consent()]), fromCache: false, savedAt: 1 }));
    const [a, b] = await Promise.all([loadConsents(get as never), loadConsents(get as never)]);
    expect(get).toHaveBeenCalledTimes(1);
    expect(get).toHaveBeenCalledWith('/api/v1/me/consents');
    expect(a).toBe(b);
    expect(knownConsents()).toEqual(answer([consent()]));

    // Someone else signs in on this device: what was read for the first person is not theirs.
    currentUser.set(user('u2'));
    expect(knownConsents()).toBeNull();
    await loadConsents(get as never);
    expect(get).toHaveBeenCalledTimes(2);
  });

  it('takes the answer of a change at once: a withdrawal is asked for again before the next message', async () => {
    rememberConsents(answer([consent()]));
    expect(consentStands(knownConsents()!)).toBe(true);
    const post = vi.fn(async () => answer([consent({ withdrawn_at: '2026-12-06T10:00:00Z' })]));
    await changeConsent(LLM_PROCESSING, false, post as never);
    expect(post).toHaveBeenCalledWith('/api/v1/me/consents', { kind: LLM_PROCESSING, given: false });
    expect(consentStands(knownConsents()!)).toBe(false);
  });

  it('gives consent through the API and remembers what the server answered', async () => {
    const fetch = vi.fn(async () => json(answer([consent()])));
    vi.stubGlobal('fetch', fetch);
    const data = await changeConsent(LLM_PROCESSING, true);
    expect(consentStands(data)).toBe(true);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/me/consents');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ kind: LLM_PROCESSING, given: true });
    expect(consents.get()).toEqual({ userId: 'u1', data });
  });

  it('a refused change changes nothing kept', async () => {
    rememberConsents(answer([]));
    vi.stubGlobal('fetch', vi.fn(async () => json({ error: { code: 'internal_error', message: 'Plansmith ran into a problem.', hint: 'Try again.', request_id: 'r1' } }, 500)));
    await expect(changeConsent(LLM_PROCESSING, true)).rejects.toMatchObject({ status: 500 });
    expect(consentStands(knownConsents()!)).toBe(false);
  });

  it('offline, the saved copy answers: a consent given before is not asked again', async () => {
    rememberConsents(answer([consent()]));
    await new Promise((r) => setTimeout(r, 10));
    resetConsentsForTests();
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const data = await loadConsents();
    expect(consentStands(data)).toBe(true);
  });

  it('offline with nothing saved, the read fails: nothing may be sent without knowing', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    await expect(loadConsents()).rejects.toMatchObject({ code: 'network' });
    expect(knownConsents()).toBeNull();
  });

  it('signed out, nothing is read', async () => {
    currentUser.set(null);
    const get = vi.fn();
    await expect(loadConsents(get as never)).rejects.toThrow();
    expect(get).not.toHaveBeenCalled();
  });
});
