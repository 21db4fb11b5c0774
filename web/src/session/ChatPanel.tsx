import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { Message, MessageList, ReplyRef, Session } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { CharCounter, describedBy } from '../components/FieldHelp';
import { Markdown } from '../components/Markdown';
import { SavedCopyNote } from '../components/SavedCopyNote';
import { connection, isOffline } from '../lib/connection';
import { useCrashTrigger } from '../lib/crash';
import { useLimits } from '../lib/about';
import { countChars } from '../lib/limits';
import type { MessageItem } from '../lib/outbox';
import type { SectionDraft, SectionUpdate, StreamState } from '../lib/replyStream';
import { useStore } from '../lib/store';
import { existingStream, stopStreams } from '../lib/streams';
import { discardItem, onOutboxEvent, outboxItems, retryItem } from '../lib/sync';
import { useResource } from '../lib/useResource';
import { ConsentNotice } from './ConsentNotice';
import { LiveReply } from './LiveReply';
import type { ConsentGate } from './useConsentGate';

interface Props {
  session: Session;
  /** Changes when the conversation must be loaded again (a step completed). */
  version: number;
  /** False while another tab of the phone layout is shown. */
  visible: boolean;
  onSend: (content: string) => Promise<void>;
  /** The person's consent to the notice, asked before anything goes to the model providers. */
  consent: ConsentGate;
  onSection: (update: SectionUpdate) => void;
  onDrafts: (replyId: string, drafts: Record<string, SectionDraft>) => void;
  onReplyFinished: (replyId: string) => void;
  /** A reply seen finished in the list (also one that finished before its stream was followed). */
  onReplySettled: (replyId: string) => void;
}

/** Within this many pixels of the end, the list counts as read to the end and follows new text. */
const PINNED_PX = 48;

const LIVE = new Set(['queued', 'streaming']);

/** What is written in a session's composer and not sent yet, for this app load: following the
 * consent notice's link to the Account page and coming back finds it still there. */
const unsent = new Map<string, string>();

export function ChatPanel({ session, version, visible, onSend, consent, onSection, onDrafts, onReplyFinished, onReplySettled }: Props) {
  useCrashTrigger('chat');
  const sessionId = session.id;
  const messages = useResource<MessageList>(paths.messages(sessionId), version);
  const [text, setText] = useState(() => unsent.get(sessionId) ?? '');
  useEffect(() => {
    if (text) unsent.set(sessionId, text);
    else unsent.delete(sessionId);
  }, [sessionId, text]);
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
    (replyId: string, state: StreamState) => {
      setAnnounce(state.status === 'complete' ? 'The reply is complete.' : 'The reply failed.');
      reload();
      onReplyFinished(replyId);
    },
    [reload, onReplyFinished],
  );

  // Follow the conversation's end while the person is there (new messages, streamed text);
  // once they scroll up to read, stay put and offer a way back down.
  const pinned = useRef(true);
  const [unseen, setUnseen] = useState(false);
  const toEnd = useCallback(() => {
    const list = listRef.current;
    if (!list) return;
    list.scrollTop = list.scrollHeight;
    pinned.current = true;
    setUnseen(false);
  }, []);
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list || typeof MutationObserver === 'undefined') return;
    const observer = new MutationObserver(() => {
      if (pinned.current) list.scrollTop = list.scrollHeight;
      else setUnseen(true);
    });
    observer.observe(list, { childList: true, subtree: true, characterData: true });
    return () => observer.disconnect();
  }, []);
  // The list has no size while its tab is hidden: back in view, show the end again.
  useLayoutEffect(() => {
    if (visible && pinned.current) toEnd();
  }, [visible, toEnd]);
  const hasData = messages.data !== undefined;
  useLayoutEffect(() => {
    if (hasData) toEnd();
  }, [hasData, toEnd]);
  function onScroll() {
    const list = listRef.current;
    if (!list || list.clientHeight === 0) return;
    pinned.current = list.scrollHeight - list.scrollTop - list.clientHeight <= PINNED_PX;
    if (pinned.current) setUnseen(false);
  }

  const send = useCallback(
    async (content: string) => {
      toEnd();
      await onSend(content);
    },
    [onSend, toEnd],
  );

  const items = messages.data?.items ?? [];
  useEffect(() => {
    for (const m of messages.data?.items ?? []) {
      if (m.role === 'assistant' && !LIVE.has(m.status) && existingStream(m.id)?.finished !== false) onReplySettled(m.id);
    }
  }, [messages.data, onReplySettled]);

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
      <ol className="messages" ref={listRef} aria-label="Messages" tabIndex={0} onScroll={onScroll}>
        {items.map((m) => (
          <li key={m.id} className={`msg msg-${m.role}`} data-testid="message" data-role={m.role} data-status={m.status}>
            <span className="visually-hidden">{m.role === 'user' ? 'You said:' : 'Planning agent:'}</span>
            {m.role === 'assistant' && (LIVE.has(m.status) || existingStream(m.id)?.finished === false) ? (
              <LiveReply sessionId={sessionId} message={m} onSection={onSection} onDrafts={onDrafts} onFinished={(state) => finished(m.id, state)} />
            ) : m.role === 'assistant' ? (
              <>
                {m.content && <Markdown source={m.content} />}
                {(m.status === 'failed' || m.status === 'interrupted') && (
                  <div className="notice notice-error compact" role="alert">
                    <p>{m.error?.message || (m.status === 'interrupted' ? 'The reply was interrupted.' : 'The reply failed.')}</p>
                    {session.status === 'active' && (
                      <button type="button" className="button small" onClick={() => void consent.guard(() => retryReply(m))}>
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
                <div className="row">
                  <button type="button" className="button small" onClick={() => void consent.guard(() => retryItem(p))}>
                    Send again
                  </button>
                  <button
                    type="button"
                    className="button small"
                    onClick={() => {
                      // Back into the composer, after whatever is being written there now.
                      setText((t) => (t.trim() ? `${t.trimEnd()}\n\n${p.content}` : p.content));
                      void discardItem(p);
                      document.getElementById('composer-input')?.focus();
                    }}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="button small subtle"
                    onClick={() => {
                      if (window.confirm('Discard this message? Its text will be gone.')) void discardItem(p);
                    }}
                  >
                    Discard
                  </button>
                </div>
              </div>
            ) : (
              <p className="muted small">{offline ? 'Waiting to send — will go out when you are back online.' : 'Sending…'}</p>
            )}
          </li>
        ))}
      </ol>
      {unseen && (
        <button type="button" className="button small jump-latest" onClick={toEnd}>
          ↓ Jump to the latest
        </button>
      )}
      <p className="visually-hidden" role="status">
        {announce}
      </p>
      {session.status === 'active' && <ConsentNotice gate={consent} hasText={text.trim() !== ''} />}
      <Composer session={session} text={text} setText={setText} onSend={send} consent={consent} />
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

function Composer({
  session,
  text,
  setText,
  onSend,
  consent,
}: {
  session: Session;
  text: string;
  setText: (t: string) => void;
  onSend: (content: string) => Promise<void>;
  consent: ConsentGate;
}) {
  const closed = session.status !== 'active';
  const maxChars = useLimits().message;
  const count = countChars(text.trim(), maxChars);
  // What is in the box when the message goes out: after "Agree and send", whatever is there then.
  const latest = useRef(text);
  latest.current = text;
  const waiting = consent.phase === 'checking' || consent.phase === 'recording';

  function sendNow() {
    const content = latest.current.trim();
    // Over the limit the text stays here to be shortened: the server would refuse it.
    if (!content || closed || countChars(content, maxChars).over) return;
    latest.current = '';
    setText('');
    return onSend(content);
  }

  async function send(e?: FormEvent) {
    e?.preventDefault();
    if (!text.trim() || closed || count.over) return;
    // At once when the consent stands; otherwise after the person agrees to the notice.
    await consent.guard(sendNow);
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  }

  if (closed) {
    return <p className="muted composer-closed">This session is {session.status}; it takes no more messages.</p>;
  }
  return (
    <form className="composer" onSubmit={send} aria-busy={waiting || undefined}>
      <label htmlFor="composer-input">Your message</label>
      <textarea
        id="composer-input"
        rows={3}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-invalid={count.over || undefined}
        aria-describedby={describedBy(count.show && 'composer-count', consent.phase === 'declined' && 'consent-declined', 'composer-help')}
        placeholder="Answer the agent's questions, or say “draft the rest”."
      />
      <CharCounter id="composer-count" count={count} />
      {count.over && (
        <p className="field-error" role="alert">
          This message is too long to send. Shorten it, or send it in parts.
        </p>
      )}
      <div className="composer-row">
        <p id="composer-help" className="muted small">
          Enter sends, Shift+Enter starts a new line. Works offline too: messages are sent when you are back.
        </p>
        <button type="submit" className="button primary" disabled={!text.trim() || count.over || waiting}>
          Send
        </button>
      </div>
    </form>
  );
}
