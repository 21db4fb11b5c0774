import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ErrorReporter,
  MAX_MESSAGE_CHARS,
  MAX_REPORTS,
  MAX_STACK_CHARS,
  postReport,
  REPEAT_AFTER_MS,
  truncate,
  type Transport,
} from './errorReport';

function setup(send?: Transport) {
  let now = 1_000_000;
  const bodies: string[] = [];
  const reporter = new ErrorReporter({
    send:
      send ??
      ((body) => {
        bodies.push(body);
        return Promise.resolve(0);
      }),
    page: () => '/sessions/:id',
    now: () => now,
  });
  return {
    reporter,
    bodies,
    sent: () => bodies.map((b) => JSON.parse(b) as Record<string, unknown>),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function errorAt(message: string, frame: string, name = 'Error'): Error {
  const e = new Error(message);
  e.name = name;
  e.stack = `${name}: ${message}\n    at ${frame} (https://plansmith.test/assets/index-abc.js:1:200)\n    at run (https://plansmith.test/assets/index-abc.js:1:900)`;
  return e;
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('ErrorReporter', () => {
  it('sends the message, stack, route pattern and source, and no field the server does not know', () => {
    const { reporter, sent } = setup();
    expect(reporter.report(errorAt('x is not a function', 'render', 'TypeError'), 'onerror')).toBe(true);
    const [report] = sent();
    expect(report).toEqual({
      message: 'TypeError: x is not a function',
      stack: expect.stringContaining('at render (https://plansmith.test/assets/index-abc.js:1:200)'),
      url: '/sessions/:id',
      source: 'onerror',
    });
  });

  it('adds the error id on its own line and the component stack after the stack for a boundary', () => {
    const { reporter, sent } = setup();
    reporter.report(errorAt('render failed', 'Fragile'), 'boundary', {
      errorId: 'web-abc-123',
      componentStack: '\n    at Fragile\n    at ErrorBoundary',
    });
    const [report] = sent();
    expect(report.source).toBe('boundary');
    // The server groups by the first line, so the id must not be on it.
    expect(report.message).toBe('render failed\nError id shown on the page: web-abc-123');
    expect(report.stack).toMatch(/at Fragile \(https:.*\n\nComponent stack:\n {4}at Fragile\n {4}at ErrorBoundary$/s);
  });

  it('reports values that are not errors, and never sends an empty message', () => {
    const { reporter, sent } = setup();
    reporter.report('plain string', 'unhandledrejection');
    reporter.report({ code: 42 }, 'unhandledrejection');
    reporter.report(undefined, 'unhandledrejection');
    reporter.report(new Error(''), 'onerror');
    const messages = sent().map((r) => r.message);
    expect(messages).toEqual(['plain string', 'Non-error value: {"code":42}', '(undefined thrown or rejected)', '(no message)']);
    expect(sent().every((r) => !('stack' in r) || typeof r.stack === 'string')).toBe(true);
    expect(sent()[0]).not.toHaveProperty('stack');
  });

  it('sends the same error (message and first frame) once a minute, whatever its source', () => {
    const { reporter, bodies, advance } = setup();
    expect(reporter.report(errorAt('boom', 'a'), 'boundary')).toBe(true);
    expect(reporter.report(errorAt('boom', 'a'), 'onerror')).toBe(false);
    // Another place, or another message, is another error.
    expect(reporter.report(errorAt('boom', 'b'), 'onerror')).toBe(true);
    expect(reporter.report(errorAt('bang', 'a'), 'onerror')).toBe(true);
    advance(REPEAT_AFTER_MS - 1);
    expect(reporter.report(errorAt('boom', 'a'), 'onerror')).toBe(false);
    advance(1);
    expect(reporter.report(errorAt('boom', 'a'), 'onerror')).toBe(true);
    expect(bodies).toHaveLength(4);
  });

  it(`sends at most ${MAX_REPORTS} reports per page load`, () => {
    const { reporter, bodies, advance } = setup();
    for (let i = 0; i < MAX_REPORTS + 5; i += 1) {
      reporter.report(errorAt(`error ${i}`, 'f'), 'onerror');
      advance(REPEAT_AFTER_MS);
    }
    expect(bodies).toHaveLength(MAX_REPORTS);
    expect(reporter.report(errorAt('yet another', 'g'), 'onerror')).toBe(false);
  });

  it('cuts a long message and stack so a report stays well under 64 KiB', () => {
    const { reporter, bodies, sent } = setup();
    const frames = Array.from({ length: 5_000 }, (_, i) => `    at frame${i} (https://plansmith.test/assets/index-abc.js:1:${i})`);
    const error = new Error('é'.repeat(50_000));
    error.stack = `Error: ${error.message}\n${frames.join('\n')}`;
    reporter.report(error, 'onerror', { componentStack: '\n    at Panel'.repeat(10_000) });
    const [report] = sent();
    expect((report.message as string).length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect((report.message as string).endsWith('…')).toBe(true);
    expect((report.stack as string).length).toBeLessThanOrEqual(MAX_STACK_CHARS);
    expect(new TextEncoder().encode(bodies[0]).length).toBeLessThan(32 * 1024);

    // Even made of characters JSON escapes at 6 bytes each.
    const { reporter: r2, bodies: b2 } = setup();
    const control = new Error('\u0001'.repeat(100_000));
    control.stack = '\u0002'.repeat(100_000);
    r2.report(control, 'onerror');
    expect(new TextEncoder().encode(b2[0]).length).toBeLessThan(32 * 1024);
  });

  it('never throws, not even when sending throws or rejects, and stays quiet when the server asks', async () => {
    const throwing = setup(() => {
      throw new Error('send failed');
    });
    expect(() => throwing.reporter.report(new Error('a'), 'onerror')).not.toThrow();

    const rejecting = setup(() => Promise.reject(new Error('offline')));
    expect(() => rejecting.reporter.report(new Error('b'), 'onerror')).not.toThrow();

    const hostile = {
      get message(): string {
        throw new Error('getter');
      },
    };
    expect(setup().reporter.report(hostile, 'onerror')).toBe(false);

    // 429: nothing more until Retry-After has passed.
    const sends: string[] = [];
    const limited = setup((body) => {
      sends.push(body);
      return Promise.resolve(5_000);
    });
    limited.reporter.report(new Error('first'), 'onerror');
    await Promise.resolve();
    await Promise.resolve();
    expect(limited.reporter.report(new Error('second'), 'onerror')).toBe(false);
    limited.advance(5_000);
    expect(limited.reporter.report(new Error('third'), 'onerror')).toBe(true);
    expect(sends).toHaveLength(2);
  });
});

describe('truncate', () => {
  it('keeps short text, ends a long one with an ellipsis, prefers a line break, never splits a surrogate pair', () => {
    expect(truncate('short', 10)).toBe('short');
    expect(truncate('abcdefghij', 5)).toBe('abcd…');
    expect(truncate('line one\nline two\nline three', 22)).toBe('line one\nline two…');
    const emoji = truncate('ab😀cd', 4);
    expect(emoji).toBe('ab…');
    expect(() => encodeURIComponent(emoji)).not.toThrow();
  });
});

describe('postReport', () => {
  it('POSTs JSON with the cookie as a keepalive request', async () => {
    const fetch = vi.fn(() => Promise.resolve(new Response(null, { status: 202 })));
    vi.stubGlobal('fetch', fetch);
    await expect(postReport('{"message":"x"}')).resolves.toBe(0);
    expect(fetch).toHaveBeenCalledWith('/api/v1/client-errors', {
      method: 'POST',
      body: '{"message":"x"}',
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
    });
  });

  it('reads Retry-After from a 429', async () => {
    vi.stubGlobal('fetch', () => Promise.resolve(new Response(null, { status: 429, headers: { 'retry-after': '7' } })));
    await expect(postReport('{}')).resolves.toBe(7_000);
  });

  it('falls back to a beacon when fetch fails, and never rejects when that fails too', async () => {
    const sendBeacon = vi.fn(() => true);
    vi.stubGlobal('navigator', { sendBeacon });
    vi.stubGlobal('fetch', () => Promise.reject(new TypeError('Failed to fetch')));
    await expect(postReport('{"message":"y"}')).resolves.toBe(0);
    expect(sendBeacon).toHaveBeenCalledWith('/api/v1/client-errors', '{"message":"y"}');

    vi.stubGlobal('fetch', undefined);
    vi.stubGlobal('navigator', {
      sendBeacon: () => {
        throw new Error('no beacon either');
      },
    });
    await expect(postReport('{}')).resolves.toBe(0);
  });
});
