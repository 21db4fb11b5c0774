import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';

export interface Fetched<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: (prev: T | undefined) => T | undefined) => void;
}

/** GET for the admin pages: always from the server, never kept on the device (the admin API
 * holds other people's data, and emails with their links). */
export function useFetch<T>(path: string | null): Fetched<T> {
  const [state, setState] = useState<{ path: string | null; data: T | undefined; error: unknown; loading: boolean }>({
    path,
    data: undefined,
    error: null,
    loading: path !== null,
  });
  const [nonce, setNonce] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setState((s) => ({ path, data: s.path === path ? s.data : undefined, error: null, loading: true }));
    api.get<T>(path, { signal: controller.signal }).then(
      (data) => setState({ path, data, error: null, loading: false }),
      (error) => !controller.signal.aborted && setState((s) => ({ ...s, path, error, loading: false })),
    );
    return () => controller.abort();
  }, [path, nonce]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const setData = useCallback((update: (prev: T | undefined) => T | undefined) => setState((s) => ({ ...s, data: update(s.data) })), []);
  const current = state.path === path;
  return { data: current ? state.data : undefined, error: current ? state.error : null, loading: !current || state.loading, reload, setData };
}
