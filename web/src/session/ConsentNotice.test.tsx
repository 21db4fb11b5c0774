// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { Consents, MessageList, Session, User } from '../api/types';
import { about } from '../lib/about';
import { currentUser } from '../lib/auth';
import { changeConsent, knownConsents, LLM_PROCESSING, resetConsentsForTests } from '../lib/consent';
import { idbClear } from '../lib/idb';
import { ChatPanel } from './ChatPanel';
import { useConsentGate } from './useConsentGate';

const messages: MessageList = { items: [] };
vi.mock('../lib/useResource', () => ({
  useResource: () => ({ data: messages, error: null, loading: false, fromCache: false, savedAt: undefined, reload: () => {}, setData: () => {} }),
}));

const VERSION = '2026-12';
const TEXT = 'To write replies, Plansmith sends your planning conversation (your idea, messages and documents) to the model providers this installation uses: primary.';
const USER: User = { id: 'u1', email: 'ada@example.com', name: 'Ada', plan: 'free', role: 'member' };
const SESSION: Session = {
  id: 's1',
  title: 'Recipe Box',
  idea: 'Families share recipes.',
  status: 'active',
  workflow_id: 'quick-brief',
  current_step: 'brief',
  steps: [{ id: 'brief', title: 'Project brief', status: 'current' }],
  progress: 0,
  sections_filled: 0,
  sections_total: 8,
  created_at: '2026-12-05T10:00:00Z',
  updated_at: '2026-12-05T10:00:00Z',
};

/** The server as far as consents go: whether the consent stands, and what its next answers are. */
let given = false;
let withdrawn = false;
let failures: (number | 'network')[] = [];
let posts: unknown[] = [];

function consents(): Consents {
  const items = given || withdrawn
    ? [{ id: 'c1', kind: LLM_PROCESSING, version: VERSION, given_at: '2026-12-05T10:00:00Z', withdrawn_at: given ? null : '2026-12-06T10:00:00Z' }]
    : [];
  return { items, notices: [{ kind: LLM_PROCESSING, version: VERSION, text: TEXT, given }] };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function stubServer() {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      expect(url).toBe('/api/v1/me/consents');
      const failure = failures.shift();
      if (failure === 'network') throw new TypeError('Failed to fetch');
      if (failure) return json({ error: { code: 'internal_error', message: 'Plansmith ran into a problem on its side.', hint: 'Try again in a moment.', request_id: 'req-7' } }, failure);
      if (init?.method === 'POST') {
        const body = JSON.parse(init.body as string) as { given: boolean };
        posts.push(body);
        given = body.given;
        withdrawn = !body.given;
      }
      return json(consents());
    }),
  );
}

function Harness({ onSend }: { onSend: (content: string) => Promise<void> }) {
  const consent = useConsentGate();
  const none = () => {};
  return (
    <ChatPanel
      session={SESSION}
      version={0}
      visible
      onSend={onSend}
      consent={consent}
      onSection={none}
      onDrafts={none}
      onReplyFinished={none}
      onReplySettled={none}
    />
  );
}

/** Renders the conversation and waits for the consent read a session page starts with. */
async function open() {
  const onSend = vi.fn(async (_content: string) => {});
  render(<Harness onSend={onSend} />);
  await act(async () => {
    await new Promise((r) => setTimeout(r, 0));
  });
  return onSend;
}

const composer = () => screen.getByLabelText<HTMLTextAreaElement>('Your message');
const notice = () => screen.queryByRole('region', { name: 'Before you send: how replies are written' });

async function typeAndSend(text: string) {
  fireEvent.change(composer(), { target: { value: text } });
  await act(async () => {
    fireEvent.keyDown(composer(), { key: 'Enter' });
  });
}

async function click(name: string) {
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name }));
  });
}

beforeEach(() => {
  given = false;
  withdrawn = false;
  failures = [];
  posts = [];
  currentUser.set(USER);
  stubServer();
});

afterEach(async () => {
  cleanup();
  resetConsentsForTests();
  currentUser.set(undefined);
  about.set(null);
  vi.unstubAllGlobals();
  await idbClear('kv');
});

it('before the first message: the notice in the server’s words; agreeing records the consent, then sends what was typed', async () => {
  const onSend = await open();
  expect(notice()).toBeNull();

  await typeAndSend('Busy parents plan dinners.');
  const region = notice()!;
  expect(region).not.toBeNull();
  expect(region.textContent).toContain(TEXT);
  expect(region.textContent).toContain(`notice version ${VERSION}`);
  expect(screen.getByRole('link', { name: 'Account → Consents' }).getAttribute('href')).toBe('/account#consents');
  expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Before you send: how replies are written' }));
  expect(onSend).not.toHaveBeenCalled();
  expect(composer().value).toBe('Busy parents plan dinners.');

  await click('Agree and send');
  expect(posts).toEqual([{ kind: LLM_PROCESSING, given: true }]);
  expect(onSend).toHaveBeenCalledWith('Busy parents plan dinners.');
  expect(composer().value).toBe('');
  expect(notice()).toBeNull();
  expect(document.activeElement).toBe(composer());

  // Given once: the next message goes out at once, without asking the server again.
  await typeAndSend('Second message.');
  expect(notice()).toBeNull();
  expect(onSend).toHaveBeenLastCalledWith('Second message.');
  expect(posts).toHaveLength(1);
});

it('sends at once, without the notice, when the consent stands', async () => {
  given = true;
  const onSend = await open();
  await typeAndSend('Hello.');
  expect(notice()).toBeNull();
  expect(onSend).toHaveBeenCalledWith('Hello.');
  expect(posts).toHaveLength(0);
});

it('what is in the box when the person agrees is what goes out', async () => {
  const onSend = await open();
  await typeAndSend('First words.');
  fireEvent.change(composer(), { target: { value: 'First words, and more.' } });
  await click('Agree and send');
  expect(onSend).toHaveBeenCalledWith('First words, and more.');
});

it('"Not now" sends nothing, keeps the text and says why; sending again asks again', async () => {
  const onSend = await open();
  await typeAndSend('Keep me.');
  await click('Not now');
  expect(notice()).toBeNull();
  expect(onSend).not.toHaveBeenCalled();
  expect(posts).toHaveLength(0);
  expect(composer().value).toBe('Keep me.');
  expect(document.activeElement).toBe(composer());
  const note = screen.getByTestId('consent-declined');
  expect(note.textContent).toContain('Nothing was sent. Your message is still in the box below.');
  expect(note.textContent).toContain('you cannot get AI replies');
  expect(composer().getAttribute('aria-describedby')).toContain('consent-declined');

  await typeAndSend('Keep me.');
  expect(notice()).not.toBeNull();
  expect(screen.queryByTestId('consent-declined')).toBeNull();
});

it('Escape answers "Not now"', async () => {
  const onSend = await open();
  await typeAndSend('Keep me.');
  await act(async () => {
    fireEvent.keyDown(screen.getByRole('button', { name: 'Agree and send' }), { key: 'Escape' });
  });
  expect(notice()).toBeNull();
  expect(screen.getByTestId('consent-declined')).not.toBeNull();
  expect(onSend).not.toHaveBeenCalled();
  expect(composer().value).toBe('Keep me.');
});

it('with only the offline planner answering, "Not now" says so without promising AI replies', async () => {
  about.set({ version: '0.2.0', support_contact: 'help@example.org', offline_planner: true, limits: { title_chars: 200, idea_chars: 10000, message_chars: 20000, section_chars: 50000 } });
  await open();
  await typeAndSend('Keep me.');
  await click('Not now');
  const note = screen.getByTestId('consent-declined').textContent!;
  expect(note).toContain('answers only once you agree');
  expect(note).not.toContain('AI replies');
});

it('a consent that could not be recorded is said plainly; nothing is sent or lost, and agreeing again works', async () => {
  const onSend = await open();
  await typeAndSend('Do not lose me.');
  failures = [500];
  await click('Agree and send');
  const alert = screen.getByRole('alert');
  expect(alert.textContent).toContain('Plansmith ran into a problem on its side.');
  expect(alert.textContent).toContain('req-7');
  expect(notice()).not.toBeNull();
  expect(onSend).not.toHaveBeenCalled();
  expect(composer().value).toBe('Do not lose me.');
  await waitFor(() => expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Agree and send' })));

  await click('Agree and send');
  expect(onSend).toHaveBeenCalledWith('Do not lose me.');
  expect(screen.queryByRole('alert')).toBeNull();
});

it('when the consent cannot be read, nothing is sent; "Try again" reads it and goes on', async () => {
  given = true;
  failures = ['network', 'network'];
  const onSend = await open();
  expect(knownConsents()).toBeNull();
  await typeAndSend('Written offline.');
  // The read fails, then finds no saved copy on the device.
  expect((await screen.findByRole('alert')).textContent).toContain("Plansmith can't be reached right now.");
  expect(screen.getByTestId('consent-error').textContent).toContain('Your message is still in the box below.');
  expect(onSend).not.toHaveBeenCalled();
  expect(composer().value).toBe('Written offline.');

  await click('Try again');
  await waitFor(() => expect(onSend).toHaveBeenCalledWith('Written offline.'));
  expect(screen.queryByRole('alert')).toBeNull();
});

it('a consent withdrawn (on the Account page) is asked for again before the next message', async () => {
  given = true;
  const onSend = await open();
  await typeAndSend('Before.');
  expect(onSend).toHaveBeenCalledTimes(1);

  await act(async () => {
    await changeConsent(LLM_PROCESSING, false);
  });
  await typeAndSend('After.');
  expect(notice()).not.toBeNull();
  expect(onSend).toHaveBeenCalledTimes(1);
  await click('Agree and send');
  expect(onSend).toHaveBeenLastCalledWith('After.');
});
