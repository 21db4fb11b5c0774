import 'fake-indexeddb/auto';
import { afterEach, expect, it, vi } from 'vitest';
import { cachedGet } from './cache';

afterEach(() => vi.unstubAllGlobals());

it('keeps what it read and returns the saved copy when offline', async () => {
  vi.stubGlobal(
    'fetch',
    vi.fn().mockResolvedValue(new Response('{"title":"Recipe Box"}', { status: 200, headers: { 'content-type': 'application/json' } })),
  );
  const online = await cachedGet<{ title: string }>('/api/v1/sessions/s1');
  expect(online).toMatchObject({ data: { title: 'Recipe Box' }, fromCache: false });
  await new Promise((r) => setTimeout(r, 10));

  vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
  const offline = await cachedGet<{ title: string }>('/api/v1/sessions/s1');
  expect(offline).toMatchObject({ data: { title: 'Recipe Box' }, fromCache: true });
  await expect(cachedGet('/api/v1/sessions/never-seen')).rejects.toMatchObject({ code: 'network' });
});

it('does not hide a real error (404) behind a saved copy', async () => {
  vi.stubGlobal('fetch', vi.fn().mockResolvedValue(new Response('{"ok":1}', { status: 200, headers: { 'content-type': 'application/json' } })));
  await cachedGet('/api/v1/sessions/gone');
  await new Promise((r) => setTimeout(r, 10));
  vi.stubGlobal(
    'fetch',
    vi.fn().mockResolvedValue(
      new Response('{"error":{"code":"not_found","message":"The session was not found.","hint":"Go back.","request_id":"r"}}', {
        status: 404,
        headers: { 'content-type': 'application/json' },
      }),
    ),
  );
  await expect(cachedGet('/api/v1/sessions/gone')).rejects.toMatchObject({ status: 404, message: 'The session was not found.' });
});
