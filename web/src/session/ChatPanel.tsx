import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { Message, MessageList, ReplyRef, Session } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { Markdown } from '../components/Markdown';
import { SavedCopyNote } from '../components/SavedCopyNote';
import { connection, isOffline } from '../lib/connection';
import { useCrashTrigger } from '../lib/crash';
import type { MessageItem } from '../lib/outbox';
import type { SectionDraft, SectionUpdate, StreamState } from '../lib/replyStream';
import { useStore } from '../lib/store';
import { existingStream, stopStreams } from '../lib/streams';
import { discardItem, onOutboxEvent, outboxItems, queueMessage, retryItem } from '../lib/sync';
import { useResource } from '../lib/useResource';
import { LiveReply } from './LiveReply';

interface Props {
  session: Session;
  onSection: (update: SectionUpdate) => void;
  onDrafts: (replyId: string, drafts: Record<string, SectionDraft>) => void;
  onReplyFinished: () => void;
}

const LIVE = new Set(['queued', 'streaming']);

export function ChatPanel({ session, onSection, onDrafts, onReplyFinished }: Props) {
  useCrashTrigger('chat');
  const sessionId = session.id;
  const messages = useResource<MessageList>(paths.messages(sessionId));
  const pending = useStore(outboxItems).filter((i): i is MessageItem => i.kind === 'message' && i.sessionId === sessionId);
  const offline = isOffline(useStore(connection));
  const [announce, setAnnounce] = useState('');
  const listRef = useRef<HTMLOListElement>(null);
  const { setData, reload } = messages;

  // A queued message reached the server: show it and its reply at once, then follow the reply.
  useEffect(
    () =>
      onOutboxEvent((event) => {
        if (event.type !== 'delivered' || event.item.sessionId !== sessionId) return;
        const { message, reply } = event.response;
        setData((page) => appendDelivered(page, message, reply));
      }),
    [sessionId, setData],
  );

  // Close this session's connections when leaving the page.
  const ids = useRef(new Set<string>());
  messages.data?.items.forEach((m) => m.role === 'assistant' && ids.current.add(m.id));
  useEffect(() => () => stopStreams(ids.current), []);

  const finished = useCallback(
    (state: StreamState) => {
      setAnnounce(state.status === 'complete' ? 'The reply is complete.' : 'The reply failed.');
      reload();
      onReplyFinished();
    },
    [reload, onReplyFinished],
  );

  const items = messages.data?.items ?? [];
  const lastText = items.length ? items[items.length - 1].content.length : 0;
  useEffect(() => {
    const list = listRef.current;
    if (list) list.scrollTop = list.scrollHeight;
  }, [items.length, pending.length, lastText]);

  async function retryReply(m: Message) {
    try {
      await api.post<ReplyRef>(paths.retryReply(sessionId, m.id));
      existingStream(m.id)?.resume();
      setData((page) => page && { ...page, items: page.items.map((x) => (x.id === m.id ? { ...x, status: 'queued', error: null } : x)) });
    } catch (error) {
      setData((page) => page && { ...page, items: page.items.map((x) => (x.id === m.id ? { ...x, error: { code: 'retry', message: errorText(error) } } : x)) });
    }
  }

  return (
    <section className="panel chat" aria-labelledby="chat-title">
      <h2 id="chat-title">Conversation</h2>
      {messages.fromCache && <SavedCopyNote savedAt={messages.savedAt} />}
      {messages.error !== null && !messages.data && <ErrorNotice error={messages.error} onRetry={messages.reload} />}
      {!messages.data && messages.error === null && <p aria-busy="true">Loading the conversation…</p>}
      <ol className="messages" ref={listRef} aria-label="Messages" tabIndex={0}>
        {items.map((m) => (
          <li key={m.id} className={`msg msg-${m.role}`} data-testid="message" data-role={m.role} data-status={m.status}>
            <span className="visually-hidden">{m.role === 'user' ? 'You said:' : 'Planning agent:'}</span>
            {m.role === 'assistant' && (LIVE.has(m.status) || existingStream(m.id)?.finished === false) ? (
              <LiveReply sessionId={sessionId} message={m} onSection={onSection} onDrafts={onDrafts} onFinished={finished} />
            ) : m.role === 'assistant' ? (
              <>
                {m.content && <Markdown source={m.content} />}
                {(m.status === 'failed' || m.status === 'interrupted') && (
                  <div className="notice notice-error compact" role="alert">
                    <p>{m.error?.message || (m.status === 'interrupted' ? 'The reply was interrupted.' : 'The reply failed.')}</p>
                    {session.status === 'active' && (
                      <button type="button" className="button small" onClick={() => retryReply(m)}>
                        Try the reply again
                      </button>
                    )}
                  </div>
                )}
              </>
            ) : (
              <p className="user-text">{m.content}</p>
            )}
          </li>
        ))}
        {pending.map((p) => (
          <li key={`pending-${p.id}`} className="msg msg-user msg-pending" data-testid="pending-message" data-state={p.state}>
            <p className="user-text">{p.content}</p>
            {p.state === 'failed' ? (
              <div className="notice notice-error compact" role="alert">
                <p>Not sent: {p.error?.message}</p>
                {p.error?.hint && <p className="small">{p.error.hint}</p>}
                <button type="button" className="button small" onClick={() => retryItem(p)}>
                  Send again
                </button>{' '}
                <button type="button" className="button small" onClick={() => discardItem(p)}>
                  Discard
                </button>
              </div>
            ) : (
              <p className="muted small">{offline ? 'Waiting to send — will go out when you are back online.' : 'Sending…'}</p>
            )}
          </li>
        ))}
      </ol>
      <p className="visually-hidden" role="status">
        {announce}
      </p>
      <Composer sessionId={sessionId} session={session} />
    </section>
  );
}

function appendDelivered(page: MessageList | undefined, message: Message, reply: ReplyRef): MessageList | undefined {
  if (!page) return page;
  const known = new Set(page.items.map((m) => m.id));
  const items = [...page.items];
  if (!known.has(message.id)) items.push(message);
  if (!known.has(reply.id)) {
    items.push({
      id: reply.id,
      role: 'assistant',
      content: '',
      status: reply.status,
      seq: message.seq + 1,
      step_id: message.step_id,
      error: null,
      created_at: message.created_at,
      updated_at: message.created_at,
    });
  }
  return { ...page, items };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : 'The retry could not be started.';
}

function Composer({ sessionId, session }: { sessionId: string; session: Session }) {
  const [text, setText] = useState('');
  const closed = session.status !== 'active';

  async function send(e?: FormEvent) {
    e?.preventDefault();
    const content = text.trim();
    if (!content || closed) return;
    setText('');
    await queueMessage(sessionId, content);
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  }

  if (closed) {
    return <p className="muted">This session is {session.status}; it takes no more messages.</p>;
  }
  return (
    <form className="composer" onSubmit={send}>
      <label htmlFor="composer-input">Your message</label>
      <textarea
        id="composer-input"
        rows={3}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-describedby="composer-help"
        placeholder="Answer the agent's questions, or say “draft the rest”."
      />
      <div className="composer-row">
        <p id="composer-help" className="muted small">
          Enter sends, Shift+Enter starts a new line. Works offline too: messages are sent when you are back.
        </p>
        <button type="submit" className="button primary" disabled={!text.trim()}>
          Send
        </button>
      </div>
    </form>
  );
}
