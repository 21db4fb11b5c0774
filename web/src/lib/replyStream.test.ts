import { describe, expect, it } from 'vitest';
import { applyEvent, initialStreamState, ReplyStream, type EventSourceLike, type StreamState } from './replyStream';

const tok = (id: number, text: string) => ({ id, type: 'token', data: JSON.stringify({ text }) });
const DONE = { reply_id: 'r', status: 'complete' };

function run(events: { id: number; type: string; data: string }[], start: StreamState = initialStreamState) {
  let state = start;
  for (const e of events) state = applyEvent(state, e).state;
  return state;
}

describe('applyEvent', () => {
  it('appends tokens in order', () => {
    expect(run([tok(1, 'Hel'), tok(2, 'lo')]).text).toBe('Hello');
  });

  it('ignores an event id it has already applied (replay after reconnect)', () => {
    const state = run([tok(1, 'a'), tok(2, 'b'), tok(1, 'a'), tok(2, 'b'), tok(3, 'c')]);
    expect(state.text).toBe('abc');
    expect(state.lastEventId).toBe(3);
  });

  it('reports a gap and applies nothing past it', () => {
    const state = run([tok(1, 'a')]);
    const result = applyEvent(state, tok(3, 'c'));
    expect(result.kind).toBe('gap');
    expect(result.state.text).toBe('a');
    expect(result.state.lastEventId).toBe(1);
  });

  it('a restart after a jump in numbering (the reply taken over after a crash) is applied', () => {
    const state = run([tok(1, 'lost '), tok(2, 'text'), { id: 1000003, type: 'restart', data: '{"reason":"server_restarted"}' }, tok(1000004, 'new')]);
    expect(state.text).toBe('new');
    expect(state.lastEventId).toBe(1000004);
    expect(applyEvent(state, tok(1000006, 'x')).kind).toBe('gap');
  });

  it('restart discards the text shown so far for the reply', () => {
    const state = run([tok(1, 'old '), tok(2, 'text'), { id: 3, type: 'restart', data: '{"reason":"retry"}' }, tok(4, 'new')]);
    expect(state.text).toBe('new');
  });

  it('error ends the stream with the server message; done ends it cleanly', () => {
    const failed = run([tok(1, 'a'), { id: 2, type: 'error', data: '{"code":"provider_down","message":"The model is busy."}' }]);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ code: 'provider_down', message: 'The model is busy.' });
    expect(run([tok(1, 'a'), { id: 2, type: 'done', data: JSON.stringify(DONE) }]).status).toBe('complete');
  });

  it('collects section updates', () => {
    const state = run([{ id: 1, type: 'section', data: '{"document_id":"d","section_id":"s","revision":2}' }]);
    expect(state.sections).toEqual([{ document_id: 'd', section_id: 's', revision: 2 }]);
  });

  it('keeps the latest draft of each section until it is committed or the reply starts over', () => {
    const draft = (id: number, section_id: string, text: string) => ({
      id,
      type: 'section_draft',
      data: JSON.stringify({ document_id: 'd', section_id, text }),
    });
    const drafting = run([draft(1, 'goals', 'Gro'), draft(2, 'summary', 'Pla'), draft(3, 'goals', 'Grow fast.')]);
    expect(drafting.drafts).toEqual({
      'd/goals': { document_id: 'd', section_id: 'goals', text: 'Grow fast.' },
      'd/summary': { document_id: 'd', section_id: 'summary', text: 'Pla' },
    });
    const committed = run([{ id: 4, type: 'section', data: '{"document_id":"d","section_id":"goals","revision":2}' }], drafting);
    expect(Object.keys(committed.drafts)).toEqual(['d/summary']);
    expect(run([{ id: 4, type: 'restart', data: '{"reason":"retry"}' }], drafting).drafts).toEqual({});
    expect(run([{ id: 4, type: 'done', data: JSON.stringify(DONE) }], drafting).drafts).toEqual({});
  });

  it('an event it cannot read takes its id and changes nothing', () => {
    const state = run([tok(1, 'a'), { id: 2, type: 'token', data: 'not json' }, { id: 3, type: 'token', data: '{}' }, tok(4, 'b')]);
    expect(state.text).toBe('ab');
    expect(state.lastEventId).toBe(4);
  });
});

/** A scriptable EventSource: tests push events and failures into the latest connection. */
class FakeSource implements EventSourceLike {
  static all: FakeSource[] = [];
  onopen: EventSourceLike['onopen'] = null;
  onerror: EventSourceLike['onerror'] = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {
    FakeSource.all.push(this);
  }
  addEventListener(type: string, l: (ev: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close() {
    this.closed = true;
  }
  open() {
    this.onopen?.call(this, new Event('open'));
  }
  emit(id: number, type: string, data: unknown) {
    const ev = { data: JSON.stringify(data), lastEventId: String(id) } as MessageEvent;
    this.listeners.get(type)?.forEach((l) => l(ev));
  }
  fail() {
    this.onerror?.call(this, new Event('error'));
  }
}

function harness() {
  FakeSource.all = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const stream = new ReplyStream('/api/v1/sessions/s/replies/r/stream', {
    createEventSource: (url) => new FakeSource(url),
    schedule: (fn, ms) => timers.push({ fn, ms }),
    cancel: () => {},
    isOnline: () => true,
    random: () => 0.5,
  });
  const latest = () => FakeSource.all[FakeSource.all.length - 1];
  const fireTimer = () => timers.shift()!.fn();
  return { stream, timers, latest, fireTimer };
}

describe('ReplyStream', () => {
  it('resumes after the last event id with no duplicated or missing text', () => {
    const { stream, latest, fireTimer } = harness();
    stream.start();
    expect(latest().url).toBe('/api/v1/sessions/s/replies/r/stream');
    latest().open();
    latest().emit(1, 'token', { text: 'The ' });
    latest().emit(2, 'token', { text: 'plan ' });
    latest().fail();
    expect(stream.current.status).toBe('reconnecting');
    expect(latest().closed).toBe(true);
    fireTimer();
    expect(latest().url).toBe('/api/v1/sessions/s/replies/r/stream?after=2');
    latest().open();
    // A server (or proxy) may replay what we had: it must not show twice.
    latest().emit(2, 'token', { text: 'plan ' });
    latest().emit(3, 'token', { text: 'is ready.' });
    latest().emit(4, 'done', DONE);
    expect(stream.current.text).toBe('The plan is ready.');
    expect(stream.current.status).toBe('complete');
    expect(latest().closed).toBe(true);
  });

  it('backs off more after each failed reconnect and resets after a successful open', () => {
    const { stream, timers, latest, fireTimer } = harness();
    stream.start();
    latest().fail();
    latest();
    const first = timers[0].ms;
    fireTimer();
    latest().fail();
    const second = timers[0].ms;
    expect(second).toBeGreaterThan(first);
    fireTimer();
    latest().open();
    expect(stream.current.attempt).toBe(0);
    latest().fail();
    expect(timers[0].ms).toBe(first);
  });

  it('does not reconnect once the reply is done (the server closes the stream)', () => {
    const { stream, timers, latest } = harness();
    stream.start();
    latest().emit(1, 'token', { text: 'x' });
    latest().emit(2, 'done', DONE);
    latest().fail();
    expect(timers).toHaveLength(0);
    expect(FakeSource.all).toHaveLength(1);
  });

  it('reconnects from the last applied id when it sees a gap', () => {
    const { stream, latest } = harness();
    stream.start();
    latest().emit(1, 'token', { text: 'a' });
    latest().emit(3, 'token', { text: 'c' });
    expect(latest().url).toBe('/api/v1/sessions/s/replies/r/stream?after=1');
    latest().emit(2, 'token', { text: 'b' });
    latest().emit(3, 'token', { text: 'c' });
    expect(stream.current.text).toBe('abc');
  });

  it('steps over events of kinds it does not listen for when a reconnect skips them again', () => {
    const { stream, latest } = harness();
    stream.start();
    latest().emit(1, 'token', { text: 'a' });
    // Event 2 is of a kind a newer server sends and this app has no listener for.
    latest().emit(3, 'token', { text: 'c' });
    expect(latest().url).toContain('after=1');
    latest().emit(3, 'token', { text: 'c' });
    expect(stream.current.text).toBe('ac');
    expect(stream.current.lastEventId).toBe(3);
    expect(FakeSource.all).toHaveLength(2);
  });

  it('a retried reply continues after the error and restarts its text', () => {
    const { stream, latest } = harness();
    stream.start();
    latest().emit(1, 'token', { text: 'half' });
    latest().emit(2, 'error', { code: 'interrupted', message: 'The reply was interrupted.' });
    expect(stream.finished).toBe(true);
    stream.resume();
    expect(latest().url).toContain('after=2');
    latest().emit(3, 'restart', { reason: 'retry' });
    latest().emit(4, 'token', { text: 'whole' });
    latest().emit(5, 'done', DONE);
    expect(stream.current.text).toBe('whole');
    expect(stream.current.status).toBe('complete');
  });

  it('a dropped connection (as on a network failure) is followed by a resume', () => {
    const { stream, latest, fireTimer } = harness();
    stream.start();
    latest().emit(1, 'token', { text: 'a' });
    stream.dropConnection();
    expect(stream.current.status).toBe('reconnecting');
    fireTimer();
    expect(latest().url).toContain('after=1');
  });
});
