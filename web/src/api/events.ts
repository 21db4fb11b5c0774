// The events of a reply's stream, mirroring `ReplyEvent` in crates/domain/src/events.rs (the
// OpenAPI document can only say that the stream is text). Each event arrives as an SSE event
// whose name is `event` and whose data line is the JSON of `data`. Event names are spelled
// here and nowhere else in the app.

import type { Message } from './types';

/** Why a reply starts over: a retry, a failed model attempt (with its error), or a takeover. */
export type RestartReason = 'retry' | 'instance_lost' | 'server_restarted' | 'stream_lost' | `retrying after: ${string}`;

export type ReplyEvent =
  /** Chat text; the reply is the token texts after its last `restart`. */
  | { event: 'token'; data: { text: string } }
  /** A section's text so far while the agent writes it, before it is checked and committed. */
  | { event: 'section_draft'; data: { document_id: string; section_id: string; text: string } }
  /** A section committed in `revision` of the document. */
  | { event: 'section'; data: { document_id: string; section_id: string; revision: number } }
  /** Everything since the last restart is void. */
  | { event: 'restart'; data: { reason: RestartReason } }
  /** The reply is committed; ends the stream. */
  | { event: 'done'; data: { reply_id: string; status: Message['status'] } }
  /** The reply failed; ends the stream. */
  | { event: 'error'; data: { code: string; message: string } };

export type ReplyEventName = ReplyEvent['event'];
export type ReplyEventData<N extends ReplyEventName> = Extract<ReplyEvent, { event: N }>['data'];
export type SectionDraft = ReplyEventData<'section_draft'>;
export type SectionUpdate = ReplyEventData<'section'>;

type Fields<E extends ReplyEvent> = { [K in keyof E['data']]-?: 'string' | 'number' };

/** The data fields of each event and their JSON types, which the parser checks. */
const FIELDS: { [E in ReplyEvent as E['event']]: Fields<E> } = {
  token: { text: 'string' },
  section_draft: { document_id: 'string', section_id: 'string', text: 'string' },
  section: { document_id: 'string', section_id: 'string', revision: 'number' },
  // Any reason restarts the reply; a reason this app does not know is not refused.
  restart: { reason: 'string' },
  done: { reply_id: 'string', status: 'string' },
  error: { code: 'string', message: 'string' },
};

/** Every event name, to listen for each on an EventSource. */
export const REPLY_EVENT_NAMES = Object.keys(FIELDS) as ReplyEventName[];

/** Reads an event from its SSE name and data line; `null` for a name this app does not know or
 * data without the event's fields. */
/** Whether an event (by its name) starts the reply's text over: it may follow a jump in event
 * numbers (the reply was taken over after its stream log was lost). */
export function startsOver(name: string): boolean {
  return name === 'restart';
}

export function parseReplyEvent(name: string, data: string): ReplyEvent | null {
  if (!Object.hasOwn(FIELDS, name)) return null;
  const fields: Record<string, string> = FIELDS[name as ReplyEventName];
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  for (const [field, type] of Object.entries(fields)) {
    if (typeof record[field] !== type) return null;
  }
  return { event: name, data: value } as ReplyEvent;
}

/** One handler per event, each given its event's data: a handler for every event is required,
 * so code that reacts to events names them without spelling them as strings. */
export type ReplyEventHandlers<T> = { [E in ReplyEvent as E['event']]: (data: E['data']) => T };

export function visitReplyEvent<T>(event: ReplyEvent, handlers: ReplyEventHandlers<T>): T {
  const handler = handlers[event.event] as (data: ReplyEvent['data']) => T;
  return handler(event.data);
}
