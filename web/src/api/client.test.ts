import { afterEach, describe, expect, it, vi } from 'vitest';
import { humanError } from '../lib/errors';
import { ApiError, errorFromResponse, request } from './client';

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

afterEach(() => vi.unstubAllGlobals());

describe('API errors become human messages', () => {
  it('uses the message and hint of the API error shape; no request id for a refusal (4xx)', async () => {
    const err = await errorFromResponse(
      json(409, {
        error: {
          code: 'step_incomplete',
          message: 'Some sections of the Project brief are still empty.',
          hint: 'Ask the agent to draft them, or write them yourself.',
          request_id: 'req-42',
        },
      }),
    );
    expect(humanError(err)).toEqual({
      message: 'Some sections of the Project brief are still empty.',
      hint: 'Ask the agent to draft them, or write them yourself.',
      requestId: null,
      code: 'step_incomplete',
    });
  });

  it('never shows the raw body of a non-JSON error (a proxy page)', async () => {
    const err = await errorFromResponse(new Response('<html><body>502 Bad Gateway</body></html>', { status: 502, headers: { 'x-request-id': 'edge-1' } }));
    const h = humanError(err);
    expect(h.message).toBe('Plansmith ran into a problem on its side.');
    expect(h.hint).toMatch(/Try again/);
    expect(h.requestId).toBe('edge-1');
    expect(JSON.stringify(h)).not.toContain('<html>');
    expect(err.isTransient).toBe(true);
  });

  it('a failed fetch (offline) is a network error with a next step', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const err = (await request('GET', '/api/v1/me').catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.isNetwork).toBe(true);
    expect(humanError(err).message).toBe("Plansmith can't be reached right now.");
    expect(humanError(err).hint).toMatch(/connection/);
  });

  it('an unexpected exception shows a generic message, not its internals', () => {
    const h = humanError(new Error('Cannot read properties of undefined (reading "x")'));
    expect(h.message).toBe('Something went wrong in the app.');
    expect(h.hint).toContain('support@plansmith.dev');
  });

  it('a 401 tells the app to go to sign-in', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(json(401, { error: { code: 'unauthorized', message: 'Sign in first.', hint: 'Sign in.', request_id: 'r' } })));
    const { onUnauthorized } = await import('./client');
    const seen = vi.fn();
    const off = onUnauthorized(seen);
    await request('GET', '/api/v1/sessions').catch(() => {});
    off();
    expect(seen).toHaveBeenCalledTimes(1);
  });
});

it('reads Retry-After into the error', async () => {
  const err = await errorFromResponse(
    new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'Slow down.', hint: 'Wait 7 seconds and try again.', request_id: 'r' } }), {
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '7' },
    }),
  );
  expect(err.retryAfterMs).toBe(7000);
  expect(err.isTransient).toBe(true);
});
