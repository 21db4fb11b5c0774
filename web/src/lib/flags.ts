// Feature flags for the signed-in person, from the server's OpenFeature Remote Evaluation
// Protocol endpoint (OFREP): one bulk evaluation when someone signs in, with their user id as
// the targeting key, kept in memory and with the saved copies (IndexedDB `kv`, cleared at
// sign-out), then asked again with its ETag (`If-None-Match`; a 304 keeps the values) when the
// window regains focus and every few minutes, never more than once a minute.
//
// Flags never break a page: a flag that is unknown, of another type than its default, or not
// evaluated (signed out, an error, not answered yet) reads as the default the caller gives.

import { ApiError, conditionalPost } from '../api/client';
import { paths } from '../api/paths';
import type { BulkFlagEvaluation, FlagEvaluationRequest } from '../api/types';
import { saveCopy } from './cache';
import { idbGet } from './idb';
import { createStore, useStore, type Store } from './store';

type UserStore = Pick<Store<{ id: string } | null | undefined>, 'get' | 'subscribe'>;

export type FlagValue = boolean | string;

export interface EvaluatedFlags {
  /** The user (targeting key) they were evaluated for. */
  userId: string;
  etag: string | null;
  values: Readonly<Record<string, FlagValue>>;
}

/** The flags of the signed-in user; null while there are none (signed out, not answered yet,
 * or the evaluation failed), so every flag reads as its default. */
export const flags = createStore<EvaluatedFlags | null>(null);

/** No automatic revalidation sooner than this after the last one. */
export const MIN_REVALIDATE_MS = 60_000;
/** While the page is visible, revalidate this often even without a focus change. */
export const REVALIDATE_EVERY_MS = 5 * 60_000;

export function flagValue(state: EvaluatedFlags | null, key: string, defaultValue: boolean): boolean;
export function flagValue(state: EvaluatedFlags | null, key: string, defaultValue: string): string;
export function flagValue(state: EvaluatedFlags | null, key: string, defaultValue: FlagValue): FlagValue;
export function flagValue(state: EvaluatedFlags | null, key: string, defaultValue: FlagValue): FlagValue {
  if (!state || !Object.hasOwn(state.values, key)) return defaultValue;
  const value = state.values[key];
  // OpenFeature's type mismatch: a variant flag read as on/off (or the reverse) is the default.
  return typeof value === typeof defaultValue ? value : defaultValue;
}

/** A flag's value for the signed-in user, or `defaultValue`; re-renders when it changes. */
export function useFlag(key: string, defaultValue: boolean): boolean;
export function useFlag(key: string, defaultValue: string): string;
export function useFlag(key: string, defaultValue: FlagValue): FlagValue {
  return flagValue(useStore(flags), key, defaultValue);
}

let userId: string | null = null;
/** Bumped when the user changes, so an answer for the previous one is dropped. */
let generation = 0;
let inFlight: Promise<void> | null = null;
let lastAttempt = Number.NEGATIVE_INFINITY;

/** Whose flags to evaluate: the signed-in user's id, or null (signed out: defaults only). A new
 * user's flags are evaluated at once; the same user again changes nothing. */
export function setFlagsUser(id: string | null): Promise<void> {
  if (id === userId) return inFlight ?? Promise.resolve();
  userId = id;
  generation += 1;
  inFlight = null;
  flags.set(null);
  if (id === null) return Promise.resolve();
  return start(id, generation, () => savedFlags(id));
}

/** Asks the server again with the ETag of what we have, unless that was done less than
 * `MIN_REVALIDATE_MS` ago (`force` skips that wait) or an evaluation is under way. */
export function revalidateFlags(options: { force?: boolean } = {}): Promise<void> {
  if (userId === null) return Promise.resolve();
  if (inFlight) return inFlight;
  if (!options.force && Date.now() - lastAttempt < MIN_REVALIDATE_MS) return Promise.resolve();
  const known = flags.get();
  return start(userId, generation, async () => (known?.userId === userId ? known : null));
}

function start(id: string, gen: number, known: () => Promise<EvaluatedFlags | null>): Promise<void> {
  lastAttempt = Date.now();
  const run = known()
    .then((have) => evaluate(id, have))
    .then(({ next, fresh }) => {
      if (gen !== generation) return;
      flags.set(next);
      if (fresh && next) void saveCopy(paths.evaluateFlags(), next);
    })
    .finally(() => {
      if (gen === generation) inFlight = null;
    });
  inFlight = run;
  return run;
}

/** The server's answer, given what we have: a 304 keeps it; when the server cannot be reached
 * or is busy, what we have stays too; any other failure means defaults. Never throws. */
async function evaluate(id: string, have: EvaluatedFlags | null): Promise<{ next: EvaluatedFlags | null; fresh: boolean }> {
  try {
    const body: FlagEvaluationRequest = { context: { targetingKey: id } };
    // quiet401: a background check must not send someone to sign-in in the middle of typing.
    const answer = await conditionalPost<BulkFlagEvaluation>(paths.evaluateFlags(), body, have?.etag ?? null, { quiet401: true });
    if (answer.notModified) return { next: have, fresh: false };
    return { next: { userId: id, etag: answer.etag, values: readValues(answer.data) }, fresh: true };
  } catch (error) {
    return { next: error instanceof ApiError && error.isTransient ? have : null, fresh: false };
  }
}

/** `{key: value}` of the well-formed entries (boolean or variant name) of a bulk answer. */
function readValues(body: unknown): Record<string, FlagValue> {
  const list = (body as { flags?: unknown } | null)?.flags;
  if (!Array.isArray(list)) return {};
  const entries: [string, FlagValue][] = [];
  for (const item of list as { key?: unknown; value?: unknown }[]) {
    const value = item?.value;
    if (typeof item?.key === 'string' && (typeof value === 'boolean' || typeof value === 'string')) entries.push([item.key, value]);
  }
  // fromEntries defines own properties, so no key (`__proto__`) can reach the prototype.
  return Object.fromEntries(entries);
}

/** This user's flags as saved on the device (what the last evaluation said, with its ETag). */
async function savedFlags(id: string): Promise<EvaluatedFlags | null> {
  const entry = await idbGet<{ data: EvaluatedFlags }>('kv', paths.evaluateFlags()).catch(() => undefined);
  const saved = entry?.data;
  return saved && saved.userId === id && typeof saved.values === 'object' ? saved : null;
}

let installed = false;
/** Follows the signed-in user (their id is the targeting key) and revalidates when the window
 * regains focus or becomes visible, and every `REVALIDATE_EVERY_MS` while it is visible. */
export function installFlags(user: UserStore): void {
  if (installed) return;
  installed = true;
  const follow = () => void setFlagsUser(user.get()?.id ?? null);
  user.subscribe(follow);
  follow();
  const revalidate = () => {
    if (document.visibilityState === 'visible') void revalidateFlags();
  };
  window.addEventListener('focus', revalidate);
  document.addEventListener('visibilitychange', revalidate);
  setInterval(revalidate, REVALIDATE_EVERY_MS);
}

/** Tests only: forget the user, what was evaluated and when. */
export function resetFlagsForTests(): void {
  userId = null;
  generation += 1;
  inFlight = null;
  lastAttempt = Number.NEGATIVE_INFINITY;
  flags.set(null);
}
