// The consent to send planning conversations to the model providers that write the replies
// (`llm_processing`, `paths.consents`): asked once, before the first message, and recorded by
// the server, whose record is the truth. The app keeps the server's last answer for the
// signed-in person in memory and with the saved copies (IndexedDB `kv`, cleared at sign-out),
// reads it again whenever a session page opens, and takes every answer it gets at once (given
// before a message, withdrawn on the Account page), so a withdrawn consent is asked for again
// before the next message.

import { api } from '../api/client';
import { paths } from '../api/paths';
import type { ConsentChange, ConsentNotice, Consents } from '../api/types';
import { currentUser } from './auth';
import { cachedGet, saveCopy, type Cached } from './cache';
import { createStore } from './store';

/** The consent asked before planning conversations go to the model providers. */
export const LLM_PROCESSING = 'llm_processing';

/** The Account page's Consents section, where a consent is seen and withdrawn. */
export const CONSENTS_ANCHOR = 'consents';
export const CONSENT_SETTINGS = `/account#${CONSENTS_ANCHOR}`;

export interface KnownConsents {
  /** Whose they are: another person signing in on this device starts from nothing. */
  userId: string;
  data: Consents;
}

/** The server's last answer about the signed-in person's consents; null until there is one. */
export const consents = createStore<KnownConsents | null>(null);

/** The notice of the model-provider consent, in the version the server asks for now. */
export function llmNotice(data: Consents | null | undefined): ConsentNotice | null {
  return data?.notices.find((n) => n.kind === LLM_PROCESSING) ?? null;
}

/** Whether messages may go out: the server asks no such consent, or the person's consent to
 * the notice's current version was given and not withdrawn. An older version, a withdrawn
 * one, or the server and the list disagreeing all mean asking again. */
export function consentStands(data: Consents): boolean {
  const notice = llmNotice(data);
  if (!notice) return true;
  return notice.given && data.items.some((c) => c.kind === LLM_PROCESSING && c.version === notice.version && !c.withdrawn_at);
}

function signedInId(): string | null {
  return currentUser.get()?.id ?? null;
}

/** The signed-in person's consents as last heard (from the server or its saved copy), or null. */
export function knownConsents(): Consents | null {
  const known = consents.get();
  const id = signedInId();
  return known && id !== null && known.userId === id ? known.data : null;
}

/** Takes an answer of the server (a read or a change made anywhere in the app) as the truth. */
export function rememberConsents(data: Consents): void {
  const id = signedInId();
  if (id === null) return;
  consents.set({ userId: id, data });
  void saveCopy(paths.consents(), data);
}

let reading: { userId: string; promise: Promise<Consents> } | null = null;
/** Bumped by a reset, so that a read started before it is not taken after it. */
let generation = 0;

/** Reads the signed-in person's consents from the server (its saved copy when the server
 * cannot be reached) and remembers them; a call while a read is under way waits for it. */
export function loadConsents(get: <T>(path: string) => Promise<Cached<T>> = cachedGet): Promise<Consents> {
  const id = signedInId();
  if (id === null) return Promise.reject(new Error('Nobody is signed in.'));
  if (reading?.userId === id) return reading.promise;
  const started = generation;
  const promise = get<Consents>(paths.consents())
    .then(({ data }) => {
      if (signedInId() === id && started === generation) consents.set({ userId: id, data });
      return data;
    })
    .finally(() => {
      if (reading?.promise === promise) reading = null;
    });
  reading = { userId: id, promise };
  return promise;
}

/** Gives (`given`, to the current version) or withdraws a consent; the answer is remembered. */
export async function changeConsent(
  kind: string,
  given: boolean,
  post: <T>(path: string, body: unknown) => Promise<T> = api.post,
): Promise<Consents> {
  const data = await post<Consents>(paths.consents(), { kind, given } satisfies ConsentChange);
  rememberConsents(data);
  return data;
}

/** Tests only: forget what was read and any read under way. */
export function resetConsentsForTests(): void {
  generation += 1;
  reading = null;
  consents.set(null);
}
