// Follows one reply's server-sent events and survives lost connections: every event has an id
// (1, 2, 3, … without gaps), we remember the last one applied, and on reconnect ask for the
// events after it. An event seen twice is ignored; a gap makes us reconnect from the last id,
// so the text shown is always exactly the server's text, no piece missing or doubled.

import {
  parseReplyEvent,
  REPLY_EVENT_NAMES,
  startsOver,
  visitReplyEvent,
  type ReplyEvent,
  type SectionDraft,
  type SectionUpdate,
} from '../api/events';
import { backoffDelay } from './backoff';

export type { SectionDraft, SectionUpdate };

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'complete' | 'failed';

export interface StreamState {
  lastEventId: number;
  text: string;
  status: StreamStatus;
  error: { code: string; message: string } | null;
  sections: SectionUpdate[];
  /** The latest text of sections being written, by `document_id/section_id`, until they are
   * committed or the reply ends. */
  drafts: Record<string, SectionDraft>;
  /** Reconnect attempts since the last successful open. */
  attempt: number;
}

export interface StreamEvent {
  id: number;
  type: string;
  data: string;
}

export const initialStreamState: StreamState = {
  lastEventId: 0,
  text: '',
  status: 'connecting',
  error: null,
  sections: [],
  drafts: {},
  attempt: 0,
};

export function draftKey(section: { document_id: string; section_id: string }): string {
  return `${section.document_id}/${section.section_id}`;
}

export type ApplyResult =
  | { kind: 'applied'; state: StreamState }
  | { kind: 'duplicate'; state: StreamState }
  | { kind: 'gap'; state: StreamState };

/** Pure: the state after one event. Duplicates (id already applied) change nothing; an id
 * beyond the next one is a gap and changes nothing either (the caller reconnects) — except a
 * `restart`, which clears what came before it: after a server lost a reply's log with its
 * process, numbering jumps past anything sent before and starts over with a restart. */
export function applyEvent(state: StreamState, event: StreamEvent): ApplyResult {
  if (!Number.isFinite(event.id) || event.id <= state.lastEventId) return { kind: 'duplicate', state };
  if (event.id !== state.lastEventId + 1 && !startsOver(event.type)) return { kind: 'gap', state };
  const next: StreamState = { ...state, lastEventId: event.id };
  // An event this app cannot read still takes its place in the sequence, and changes nothing.
  const parsed = parseReplyEvent(event.type, event.data);
  if (parsed) Object.assign(next, change(state, parsed));
  return { kind: 'applied', state: next };
}

function change(state: StreamState, event: ReplyEvent): Partial<StreamState> {
  return visitReplyEvent<Partial<StreamState>>(event, {
    token: ({ text }) => ({ text: state.text + text }),
    section_draft: (draft) => ({ drafts: { ...state.drafts, [draftKey(draft)]: draft } }),
    section: (update) => {
      const { [draftKey(update)]: _committed, ...drafts } = state.drafts;
      return { sections: [...state.sections, update], drafts };
    },
    // The server starts the reply over (a retry): what was shown so far is void.
    restart: () => ({
      text: '',
      sections: [],
      drafts: {},
      error: null,
      status: state.status === 'failed' ? 'open' : state.status,
    }),
    done: () => ({ status: 'complete', drafts: {} }),
    error: (error) => ({ status: 'failed', error, drafts: {} }),
  });
}

/** The subset of EventSource we use, so tests can drive a fake one. */
export interface EventSourceLike {
  onopen: ((this: EventSourceLike, ev: Event) => unknown) | null;
  onerror: ((this: EventSourceLike, ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface ReplyStreamOptions {
  createEventSource?: (url: string) => EventSourceLike;
  schedule?: (fn: () => void, ms: number) => unknown;
  cancel?: (handle: unknown) => void;
  isOnline?: () => boolean;
  random?: () => number;
}

/** One reply's live stream with reconnection. Subscribe to get every new state. */
export class ReplyStream {
  private state: StreamState;
  private source: EventSourceLike | null = null;
  private timer: unknown = null;
  private stopped = false;
  /** The last applied id when we last reconnected because of a gap. */
  private gapAfter: number | null = null;
  private readonly listeners = new Set<(s: StreamState) => void>();
  private readonly sectionListeners = new Set<(s: SectionUpdate) => void>();
  private readonly opts: Required<ReplyStreamOptions>;

  constructor(
    readonly url: string,
    options: ReplyStreamOptions = {},
    start: StreamState = initialStreamState,
  ) {
    this.state = { ...start, status: 'connecting', attempt: 0 };
    this.opts = {
      createEventSource: options.createEventSource ?? ((u) => new EventSource(u, { withCredentials: true }) as unknown as EventSourceLike),
      schedule: options.schedule ?? ((fn, ms) => setTimeout(fn, ms)),
      cancel: options.cancel ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
      isOnline: options.isOnline ?? (() => (typeof navigator === 'undefined' ? true : navigator.onLine)),
      random: options.random ?? Math.random,
    };
  }

  get current(): StreamState {
    return this.state;
  }

  get finished(): boolean {
    return this.state.status === 'complete' || this.state.status === 'failed';
  }

  subscribe(listener: (s: StreamState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onSection(listener: (s: SectionUpdate) => void): () => void {
    this.sectionListeners.add(listener);
    return () => this.sectionListeners.delete(listener);
  }

  /** The URL for the next connection: resume after the last applied event. */
  resumeUrl(): string {
    if (this.state.lastEventId === 0) return this.url;
    const sep = this.url.includes('?') ? '&' : '?';
    return `${this.url}${sep}after=${this.state.lastEventId}`;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Stops for good (the component went away). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.closeSource();
  }

  /** Continue a finished reply after the server was asked to retry it (its stream goes on
   * with a `restart` event after the last id we have). */
  resume(): void {
    this.setState({ ...this.state, status: 'connecting', error: null, attempt: 0 });
    this.start();
  }

  /** Drops the connection as a network failure would (used by tests and by `online` events to
   * reconnect at once). */
  dropConnection(): void {
    if (this.source) this.handleConnectionError();
  }

  /** Reconnect now instead of waiting for the backoff timer (the browser came back online). */
  reconnectNow(): void {
    if (this.stopped || this.finished || this.source) return;
    this.clearTimer();
    this.connect();
  }

  private connect(): void {
    if (this.stopped || this.finished) return;
    this.closeSource();
    const source = this.opts.createEventSource(this.resumeUrl());
    this.source = source;
    source.onopen = () => {
      if (this.source !== source) return;
      this.setState({ ...this.state, status: 'open', attempt: 0 });
    };
    source.onerror = (ev: Event) => {
      // The server's error event is a MessageEvent with data, handled below.
      if (this.source !== source || (ev as MessageEvent).data !== undefined) return;
      this.handleConnectionError();
    };
    for (const type of REPLY_EVENT_NAMES) {
      source.addEventListener(type, (ev: MessageEvent) => {
        if (this.source !== source || ev.data === undefined) return;
        this.handleEvent({ id: Number(ev.lastEventId), type, data: String(ev.data) });
      });
    }
  }

  private handleEvent(event: StreamEvent): void {
    let result = applyEvent(this.state, event);
    if (result.kind === 'duplicate') return;
    if (result.kind === 'gap' && this.gapAfter === this.state.lastEventId) {
      // The same ids are missing again on a fresh connection: they are events of a kind this app
      // does not listen for (a newer server's), so step over them.
      result = applyEvent({ ...this.state, lastEventId: event.id - 1 }, event);
    }
    if (result.kind === 'gap') {
      // Something between was lost: start again right after the last event we applied.
      this.gapAfter = this.state.lastEventId;
      this.closeSource();
      this.connect();
      return;
    }
    const before = this.state;
    this.setState(result.state);
    if (result.state.sections.length > before.sections.length) {
      const update = result.state.sections[result.state.sections.length - 1];
      this.sectionListeners.forEach((l) => l(update));
    }
    if (this.finished && before.status !== this.state.status) {
      // The server ends the stream after the reply ends; close so EventSource does not reconnect.
      this.closeSource();
    }
  }

  private handleConnectionError(): void {
    this.closeSource();
    if (this.stopped || this.finished) return;
    const attempt = this.state.attempt + 1;
    this.setState({ ...this.state, status: 'reconnecting', attempt });
    this.clearTimer();
    const delay = this.opts.isOnline() ? backoffDelay(attempt, this.opts.random) : Math.max(backoffDelay(attempt, this.opts.random), 2_000);
    this.timer = this.opts.schedule(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private closeSource(): void {
    const source = this.source;
    this.source = null;
    if (source) {
      source.onopen = null;
      source.onerror = null;
      source.close();
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) this.opts.cancel(this.timer);
    this.timer = null;
  }

  private setState(next: StreamState): void {
    this.state = next;
    this.listeners.forEach((l) => l(next));
  }
}
