// Reads that survive going offline: every successful GET is kept in IndexedDB under its
// path; when the network fails, the kept copy is returned (marked as saved, with its age).

import { api, ApiError } from '../api/client';
import { idbClear, idbDelete, idbGet, idbKeys, idbPut } from './idb';

export interface Cached<T> {
  data: T;
  /** True when this came from the saved copy because the server could not be reached. */
  fromCache: boolean;
  savedAt: number;
}

interface Entry<T> {
  data: T;
  savedAt: number;
}

export async function cachedGet<T>(path: string): Promise<Cached<T>> {
  try {
    const data = await api.get<T>(path);
    const savedAt = Date.now();
    idbPut<Entry<T>>('kv', { data, savedAt }, path).catch(() => {});
    return { data, fromCache: false, savedAt };
  } catch (error) {
    if (!(error instanceof ApiError) || !error.isTransient) throw error;
    const entry = await idbGet<Entry<T>>('kv', path).catch(() => undefined);
    if (!entry) throw error;
    return { data: entry.data, fromCache: true, savedAt: entry.savedAt };
  }
}

/** Updates the saved copy without a request (after we changed something ourselves). */
export async function saveCopy<T>(path: string, data: T): Promise<void> {
  await idbPut<Entry<T>>('kv', { data, savedAt: Date.now() }, path).catch(() => {});
}

/** Drops every saved copy under `prefix` (a deleted session: it, its messages, its documents). */
export async function forgetSaved(prefix: string): Promise<void> {
  try {
    const keys = await idbKeys('kv');
    await Promise.all(keys.filter((k) => typeof k === 'string' && (k === prefix || k.startsWith(`${prefix}/`) || k.startsWith(`${prefix}?`))).map((k) => idbDelete('kv', k)));
  } catch {
    // No IndexedDB: nothing was saved.
  }
}

/** Sign-out: nothing of this account stays on the device. */
export async function clearSavedData(): Promise<void> {
  await Promise.all([idbClear('kv'), idbClear('outbox'), idbClear('conflicts')]).catch(() => {});
}
