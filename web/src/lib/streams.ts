// The live reply streams of the app, one per reply id, shared by every component that shows
// the reply. They outlive re-renders and reconnect by themselves.

import { setReconnecting } from './connection';
import { ReplyStream } from './replyStream';

const streams = new Map<string, ReplyStream>();

function countReconnecting() {
  let n = 0;
  streams.forEach((s) => {
    if (s.current.status === 'reconnecting') n += 1;
  });
  setReconnecting(n);
}

/** The stream of a reply, started on first use. */
export function replyStream(replyId: string, url: string): ReplyStream {
  let stream = streams.get(replyId);
  if (!stream) {
    stream = new ReplyStream(url);
    stream.subscribe(countReconnecting);
    streams.set(replyId, stream);
    stream.start();
  }
  return stream;
}

export function existingStream(replyId: string): ReplyStream | undefined {
  return streams.get(replyId);
}

/** Leaving a session page: close its connections (finished ones are kept for their text). */
export function stopStreams(replyIds: Iterable<string>): void {
  for (const id of replyIds) {
    const s = streams.get(id);
    if (!s) continue;
    s.stop();
    streams.delete(id);
  }
  countReconnecting();
}

export function reconnectAll(): void {
  streams.forEach((s) => s.reconnectNow());
}

/** Simulates a dropped connection on every open stream (end-to-end tests use it through the
 * e2e build's test hooks, lib/testHooks.ts; the same path a network failure takes). */
export function dropAllConnections(): void {
  streams.forEach((s) => s.dropConnection());
}
