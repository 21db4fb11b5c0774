import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { onUnauthorized } from '../api/client';
import {
  flags,
  flagValue,
  installFlags,
  MIN_REVALIDATE_MS,
  resetFlagsForTests,
  REVALIDATE_EVERY_MS,
  revalidateFlags,
  setFlagsUser,
} from './flags';
import { idbClear } from './idb';
import { createStore } from './store';

const USER = '0b7e6f7c-5a4b-4c3d-9e2f-1a2b3c4d5e6f';

function bulk(values: Record<string, unknown>, etag: string): Response {
  const body = { flags: Object.entries(values).map(([key, value]) => ({ key, value, reason: 'TARGETING_MATCH', variant: String(value), metadata: {} })) };
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', etag } });
}
const notModified = (etag: string) => new Response(null, { status: 304, headers: { etag } });
const apiError = (status: number) =>
  new Response(JSON.stringify({ error: { code: 'x', message: 'No.', hint: 'Later.', request_id: 'r' } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });

/** fetch answering in turn with `answers` (a function throws like a failed network). */
function stubFetch(...answers: (Response | (() => never))[]) {
  const fetch = vi.fn(async (_url: string, _init?: RequestInit) => {
    const next = answers.shift();
    if (!next) throw new Error('unexpected request');
    return typeof next === 'function' ? next() : next;
  });
  vi.stubGlobal('fetch', fetch);
  return fetch;
}
const offline = () => {
  throw new TypeError('Failed to fetch');
};
const sent = (fetch: ReturnType<typeof stubFetch>, call: number) => {
  const [url, init] = fetch.mock.calls[call];
  return { url, init: init!, headers: new Headers(init!.headers), body: JSON.parse(String(init!.body)) };
};
const value = (key: string, fallback: boolean | string) => flagValue(flags.get(), key, fallback as boolean);

beforeEach(async () => {
  resetFlagsForTests();
  await idbClear('kv');
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('feature flags', () => {
  it("evaluates every flag once for the signed-in user, with their id as the targeting key", async () => {
    const fetch = stubFetch(bulk({ 'new-session.examples': true, 'chat.model': 'fast' }, '"e1"'));
    await setFlagsUser(USER);
    expect(fetch).toHaveBeenCalledTimes(1);
    const request = sent(fetch, 0);
    expect(request.url).toBe('/ofrep/v1/evaluate/flags');
    expect(request.init.method).toBe('POST');
    expect(request.init.credentials).toBe('same-origin');
    expect(request.body).toEqual({ context: { targetingKey: USER } });
    expect(request.headers.has('if-none-match')).toBe(false);

    expect(value('new-session.examples', false)).toBe(true);
    expect(value('chat.model', 'default')).toBe('fast');
    // The same user again: nothing new to ask.
    await setFlagsUser(USER);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('an unknown flag, or one of another type than its default, reads as the default', async () => {
    stubFetch(bulk({ on: true, variant: 'blue' }, '"e1"'));
    await setFlagsUser(USER);
    expect(value('missing', false)).toBe(false);
    expect(value('missing', true)).toBe(true);
    expect(value('variant', false)).toBe(false);
    expect(value('on', 'plain')).toBe('plain');
    expect(value('constructor', false)).toBe(false);
  });

  it('revalidates with If-None-Match and keeps the values on 304; a change replaces them', async () => {
    const fetch = stubFetch(bulk({ a: true, b: false }, '"e1"'), notModified('"e1"'), bulk({ a: false, b: true }, '"e2"'), notModified('"e2"'));
    await setFlagsUser(USER);
    const first = flags.get();

    await revalidateFlags({ force: true });
    expect(sent(fetch, 1).headers.get('if-none-match')).toBe('"e1"');
    expect(sent(fetch, 1).body).toEqual({ context: { targetingKey: USER } });
    expect(flags.get()).toBe(first);
    expect(value('a', false)).toBe(true);

    await revalidateFlags({ force: true });
    expect(sent(fetch, 2).headers.get('if-none-match')).toBe('"e1"');
    expect(value('a', true)).toBe(false);
    expect(value('b', false)).toBe(true);

    await revalidateFlags({ force: true });
    expect(sent(fetch, 3).headers.get('if-none-match')).toBe('"e2"');
    expect(value('b', false)).toBe(true);
  });

  it('revalidates at most once a minute unless forced', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const fetch = stubFetch(bulk({ a: true }, '"e1"'), notModified('"e1"'));
    await setFlagsUser(USER);
    vi.advanceTimersByTime(MIN_REVALIDATE_MS - 1000);
    await revalidateFlags();
    expect(fetch).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    await revalidateFlags();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(value('a', false)).toBe(true);
  });

  it.each([
    ['a server error', () => apiError(500)],
    ['no network', () => offline],
    ['a refusal', () => apiError(403)],
    ['a page that is not JSON', () => new Response('<html>proxy</html>', { status: 200, headers: { 'content-type': 'text/html' } })],
    ['broken JSON', () => new Response('{"flags": [', { status: 200, headers: { 'content-type': 'application/json' } })],
    ['an unexpected shape', () => new Response('{"flags": {"a": true}}', { status: 200, headers: { 'content-type': 'application/json' } })],
  ])('%s on the first evaluation leaves every flag at its default, without throwing', async (_what, answer) => {
    stubFetch(answer());
    await expect(setFlagsUser(USER)).resolves.toBeUndefined();
    expect(value('a', false)).toBe(false);
    expect(value('a', true)).toBe(true);
    expect(value('a', 'x')).toBe('x');
  });

  it('keeps the last values while the server cannot be reached, and falls back to defaults when signed out', async () => {
    const seen = vi.fn();
    const off = onUnauthorized(seen);
    stubFetch(bulk({ a: true }, '"e1"'), offline, apiError(503), apiError(401));
    await setFlagsUser(USER);
    await revalidateFlags({ force: true });
    expect(value('a', false)).toBe(true);
    await revalidateFlags({ force: true });
    expect(value('a', false)).toBe(true);
    await revalidateFlags({ force: true });
    expect(value('a', false)).toBe(false);
    // A background check does not send anyone to the sign-in page.
    expect(seen).not.toHaveBeenCalled();
    off();
  });

  it('asks nothing for signed-out visitors, and forgets the flags at sign-out', async () => {
    const fetch = stubFetch(bulk({ a: true }, '"e1"'));
    await setFlagsUser(null);
    await revalidateFlags({ force: true });
    expect(fetch).not.toHaveBeenCalled();
    expect(value('a', false)).toBe(false);

    await setFlagsUser(USER);
    expect(value('a', false)).toBe(true);
    await setFlagsUser(null);
    expect(value('a', false)).toBe(false);
  });

  it("drops an answer that arrives after someone else signed in", async () => {
    let answerFirst: (r: Response) => void = () => {};
    const fetch = vi
      .fn()
      .mockImplementationOnce(() => new Promise<Response>((r) => (answerFirst = r)))
      .mockResolvedValueOnce(bulk({ a: false }, '"other"'));
    vi.stubGlobal('fetch', fetch);
    const first = setFlagsUser(USER);
    const second = setFlagsUser('other-user');
    await second;
    answerFirst(bulk({ a: true }, '"mine"'));
    await first;
    expect(JSON.parse(String(fetch.mock.calls[1][1].body))).toEqual({ context: { targetingKey: 'other-user' } });
    expect(flags.get()?.userId).toBe('other-user');
    expect(value('a', true)).toBe(false);
  });

  it("after a reload, revalidates the saved evaluation with its ETag, and uses it offline; never another user's", async () => {
    const fetch = stubFetch(bulk({ a: true }, '"e1"'), notModified('"e1"'), offline, bulk({ a: false }, '"e9"'));
    await setFlagsUser(USER);
    await new Promise((r) => setTimeout(r, 10)); // the copy is saved in the background

    resetFlagsForTests(); // a reload: nothing in memory
    await setFlagsUser(USER);
    expect(sent(fetch, 1).headers.get('if-none-match')).toBe('"e1"');
    expect(value('a', false)).toBe(true);

    resetFlagsForTests();
    await setFlagsUser(USER);
    expect(value('a', false)).toBe(true);

    resetFlagsForTests();
    await setFlagsUser('someone-else');
    expect(sent(fetch, 3).headers.has('if-none-match')).toBe(false);
    expect(value('a', true)).toBe(false);
  });
});

it('follows the signed-in user and revalidates on focus, on becoming visible and every few minutes, at most once a minute', async () => {
  vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
  const page = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
  vi.stubGlobal('window', new EventTarget());
  vi.stubGlobal('document', page);
  const fetch = stubFetch(bulk({ a: true }, '"e1"'), notModified('"e1"'), notModified('"e1"'), bulk({ a: false }, '"e2"'));
  const calls = (n: number) => vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(n));
  const user = createStore<{ id: string } | null | undefined>(undefined);

  installFlags(user);
  user.set({ id: USER });
  await calls(1);
  await vi.waitFor(() => expect(value('a', false)).toBe(true));

  // Focus within the minute: nothing asked.
  window.dispatchEvent(new Event('focus'));
  vi.advanceTimersByTime(MIN_REVALIDATE_MS - 1);
  window.dispatchEvent(new Event('focus'));
  expect(fetch).toHaveBeenCalledTimes(1);
  vi.advanceTimersByTime(1);
  window.dispatchEvent(new Event('focus'));
  await calls(2);
  expect(sent(fetch, 1).headers.get('if-none-match')).toBe('"e1"');

  // Hidden: the timer does not ask; back to visible, it does.
  page.visibilityState = 'hidden';
  vi.advanceTimersByTime(REVALIDATE_EVERY_MS);
  expect(fetch).toHaveBeenCalledTimes(2);
  page.visibilityState = 'visible';
  page.dispatchEvent(new Event('visibilitychange'));
  await calls(3);

  // Visible: every few minutes.
  vi.advanceTimersByTime(REVALIDATE_EVERY_MS);
  await calls(4);
  await vi.waitFor(() => expect(value('a', true)).toBe(false));

  user.set(null);
  expect(flags.get()).toBeNull();
});
