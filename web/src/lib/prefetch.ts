// Reads started before the component that shows them exists, so that they need not wait for
// the sign-in check or for each other. The first read of a path takes the request already on its
// way (once); every later read (a reload, a newer version) goes out anew.

import { cachedGet, type Cached } from './cache';

/** A started read not taken within this long is not trusted any more: it is read again. */
const KEEP_MS = 10_000;

interface Started {
  promise: Promise<Cached<unknown>>;
  at: number;
}

const started = new Map<string, Started>();

/** Starts reading `path` now (unless already started) through the saved-copy cache. */
export function prefetch<T>(path: string): Promise<Cached<T>> {
  const entry = started.get(path);
  if (entry && fresh(entry)) return entry.promise as Promise<Cached<T>>;
  const promise = cachedGet<T>(path);
  // Perhaps nobody takes it (signed out, gone elsewhere): its failure is no error of its own;
  // whoever takes it sees the failure as if they had asked themselves.
  promise.catch(() => {});
  started.set(path, { promise, at: Date.now() });
  return promise;
}

/** The read of `path` started earlier and not yet taken, if any; it is not handed out twice. */
export function takePrefetched<T>(path: string): Promise<Cached<T>> | undefined {
  const entry = started.get(path);
  if (!entry) return undefined;
  started.delete(path);
  return fresh(entry) ? (entry.promise as Promise<Cached<T>>) : undefined;
}

/** Drops reads not taken (all, or those of `prefix` and below it): after signing out, or
 * when the page that wanted them is gone. */
export function forgetPrefetched(prefix?: string): void {
  for (const path of [...started.keys()]) {
    if (prefix === undefined || path === prefix || path.startsWith(`${prefix}/`)) started.delete(path);
  }
}

function fresh(entry: Started): boolean {
  return Date.now() - entry.at <= KEEP_MS;
}
