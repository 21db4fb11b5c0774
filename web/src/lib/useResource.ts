import { useCallback, useEffect, useState } from 'react';
import { cachedGet, saveCopy } from './cache';
import { connection } from './connection';
import { takePrefetched } from './prefetch';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Shown from the saved copy: the server could not be reached. */
  fromCache: boolean;
  savedAt: number | undefined;
  reload: () => void;
  setData: (update: (prev: T | undefined) => T | undefined) => void;
}

interface State<T> {
  path: string | null;
  data: T | undefined;
  error: unknown;
  loading: boolean;
  fromCache: boolean;
  savedAt: number | undefined;
}

/** GET a path (falling back to the saved copy offline; the first time, taking the read of it
 * already started, if any: prefetch.ts); reloads when `path` or `version` changes, and by
 * itself when the connection comes back while showing a saved copy. */
export function useResource<T>(path: string | null, version: unknown = 0): Resource<T> {
  const [state, setState] = useState<State<T>>({
    path,
    data: undefined,
    error: null,
    loading: path !== null,
    fromCache: false,
    savedAt: undefined,
  });
  const [nonce, setNonce] = useState(0);

  useEffect(() => {
    if (path === null) return;
    let alive = true;
    setState((s) =>
      s.path === path
        ? { ...s, loading: true }
        : { path, data: undefined, error: null, loading: true, fromCache: false, savedAt: undefined },
    );
    (takePrefetched<T>(path) ?? cachedGet<T>(path)).then(
      (r) =>
        alive &&
        setState((s) =>
          // Offline again: what is on screen is at least as new as the saved copy; keep it.
          r.fromCache && s.path === path && s.data !== undefined
            ? { ...s, loading: false, fromCache: true }
            : { path, data: r.data, error: null, loading: false, fromCache: r.fromCache, savedAt: r.savedAt },
        ),
      (error) => alive && setState((s) => ({ ...s, path, error, loading: false })),
    );
    return () => {
      alive = false;
    };
  }, [path, version, nonce]);

  const stale = state.fromCache || (state.error !== null && state.data === undefined);
  useEffect(() => {
    if (!stale) return;
    return connection.subscribe(() => {
      if (connection.get().recovered) setNonce((n) => n + 1);
    });
  }, [stale]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  // Local changes (a delivered message, a step completed) also update the saved copy, so a
  // reload while offline shows them too.
  const setData = useCallback(
    (update: (prev: T | undefined) => T | undefined) => {
      setState((s) => {
        const data = update(s.data);
        if (data !== undefined && s.path !== null && data !== s.data) void saveCopy(s.path, data);
        return { ...s, data };
      });
    },
    [],
  );

  const current = state.path === path;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : null,
    loading: current ? state.loading : true,
    fromCache: current && state.fromCache,
    savedAt: current ? state.savedAt : undefined,
    reload,
    setData,
  };
}
