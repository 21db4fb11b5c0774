import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseReplyEvent, REPLY_EVENT_NAMES, visitReplyEvent, type ReplyEvent } from './events';

describe('parseReplyEvent', () => {
  it('reads every event the server sends, in its wire form', () => {
    const wire: [string, string, ReplyEvent][] = [
      ['token', '{"text":"Hi"}', { event: 'token', data: { text: 'Hi' } }],
      [
        'section_draft',
        '{"document_id":"d","section_id":"goals","text":"Grow"}',
        { event: 'section_draft', data: { document_id: 'd', section_id: 'goals', text: 'Grow' } },
      ],
      [
        'section',
        '{"document_id":"d","section_id":"goals","revision":3}',
        { event: 'section', data: { document_id: 'd', section_id: 'goals', revision: 3 } },
      ],
      ['restart', '{"reason":"retry"}', { event: 'restart', data: { reason: 'retry' } }],
      [
        'restart',
        '{"reason":"retrying after: the provider timed out"}',
        { event: 'restart', data: { reason: 'retrying after: the provider timed out' } },
      ],
      ['done', '{"reply_id":"r","status":"complete"}', { event: 'done', data: { reply_id: 'r', status: 'complete' } }],
      ['error', '{"code":"busy","message":"Busy."}', { event: 'error', data: { code: 'busy', message: 'Busy.' } }],
    ];
    for (const [name, data, event] of wire) expect(parseReplyEvent(name, data)).toEqual(event);
    expect(new Set(wire.map(([name]) => name))).toEqual(new Set(REPLY_EVENT_NAMES));
  });

  it('keeps fields a newer server adds', () => {
    expect(parseReplyEvent('token', '{"text":"a","lang":"en"}')).toEqual({ event: 'token', data: { text: 'a', lang: 'en' } });
  });

  it('refuses unknown names, bad JSON and missing or mistyped fields', () => {
    expect(parseReplyEvent('message', '{"text":"a"}')).toBeNull();
    expect(parseReplyEvent('toString', '{}')).toBeNull();
    expect(parseReplyEvent('token', 'not json')).toBeNull();
    expect(parseReplyEvent('token', '"text"')).toBeNull();
    expect(parseReplyEvent('token', '[]')).toBeNull();
    expect(parseReplyEvent('token', '{}')).toBeNull();
    expect(parseReplyEvent('section', '{"document_id":"d","section_id":"s","revision":"3"}')).toBeNull();
    expect(parseReplyEvent('error', '{"code":"busy"}')).toBeNull();
  });

  it('hands each event to the handler of its kind', () => {
    const summary = (event: ReplyEvent) =>
      visitReplyEvent(event, {
        token: ({ text }) => `text ${text}`,
        section_draft: ({ section_id }) => `draft ${section_id}`,
        section: ({ revision }) => `revision ${revision}`,
        restart: ({ reason }) => `restart ${reason}`,
        done: ({ status }) => status,
        error: ({ code }) => `failed ${code}`,
      });
    expect(summary({ event: 'section', data: { document_id: 'd', section_id: 's', revision: 2 } })).toBe('revision 2');
    expect(summary({ event: 'error', data: { code: 'busy', message: 'Busy.' } })).toBe('failed busy');
  });
});

const src = fileURLToPath(new URL('..', import.meta.url));

it('no source outside src/api spells an event name (they are spelled in src/api/events.ts)', () => {
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|tsx|js|jsx|mjs)$/.test(name))
    .map((name) => relative(src, join(src, name)).split('\\').join('/'));
  expect(files.length).toBeGreaterThan(20);
  const quoted = new RegExp(`(['"])(${REPLY_EVENT_NAMES.join('|')})\\1`);
  // The window's own `error` event (uncaught exceptions, lib/errorReport.ts) is the DOM's, not a reply's.
  const domEvent = /\bwindow\.addEventListener\(/;
  const offenders = files
    .filter((name) => !name.startsWith('api/') && !/\.test\.tsx?$/.test(name))
    .flatMap((name) =>
      readFileSync(join(src, name), 'utf8')
        .split('\n')
        .map((line, i) => `${name}:${i + 1}: ${line.trim()}`)
        .filter((line) => quoted.test(line) && !domEvent.test(line)),
    );
  expect(offenders).toEqual([]);
});
