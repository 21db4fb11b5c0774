import { useEffect, useRef, useState } from 'react';
import { paths } from '../api/paths';
import type { Message } from '../api/types';
import { Markdown } from '../components/Markdown';
import type { SectionDraft, SectionUpdate, StreamState } from '../lib/replyStream';
import { replyStream } from '../lib/streams';

interface Props {
  sessionId: string;
  message: Message;
  onSection: (update: SectionUpdate) => void;
  /** The sections this reply is writing now (by `document_id/section_id`), on every change. */
  onDrafts: (replyId: string, drafts: Record<string, SectionDraft>) => void;
  onFinished: (state: StreamState) => void;
}

/** An assistant reply still being written: its text arrives token by token from the stream,
 * which reconnects and resumes by itself. */
export function LiveReply({ sessionId, message, onSection, onDrafts, onFinished }: Props) {
  const stream = replyStream(message.id, paths.replyStream(sessionId, message.id));
  const [state, setState] = useState<StreamState>(stream.current);

  useEffect(() => {
    if (stream.finished && stream.current.status === 'failed' && message.status === 'queued') stream.resume();
    setState(stream.current);
    const offState = stream.subscribe(setState);
    const offSection = stream.onSection(onSection);
    return () => {
      offState();
      offSection();
    };
  }, [stream, onSection, message.status]);

  useEffect(() => onDrafts(message.id, state.drafts), [message.id, state.drafts, onDrafts]);
  useEffect(() => () => onDrafts(message.id, {}), [message.id, onDrafts]);

  // Report the end once per finish (a retried reply can finish again, with a later event id).
  const reported = useRef(-1);
  useEffect(() => {
    if (state.status !== 'complete' && state.status !== 'failed') return;
    if (reported.current === state.lastEventId) return;
    reported.current = state.lastEventId;
    onFinished(state);
  }, [state, onFinished]);

  // Nothing received yet (or offline after a reload): show what the server had saved.
  const text = state.lastEventId > 0 ? state.text : message.content;
  const waiting = state.status !== 'complete' && state.status !== 'failed';
  return (
    <div data-testid="live-reply" data-stream-status={state.status}>
      {text ? <Markdown source={text} /> : null}
      {waiting && (
        <p className="muted small typing">
          {state.status === 'reconnecting' ? 'Reconnecting to the reply…' : text ? 'Writing…' : 'Thinking…'}
        </p>
      )}
      {state.status === 'failed' && state.error && (
        <p className="notice notice-error compact" role="alert">
          {state.error.message}
        </p>
      )}
    </div>
  );
}
