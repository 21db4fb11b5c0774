// What the connection banner shows: is the browser online, does the server answer, are reply
// streams reconnecting. Fed by the API client, the reply streams and the browser's events.

import { onReachability, reportReachable } from '../api/client';
import { paths } from '../api/paths';
import { backoffDelay } from './backoff';
import { createStore } from './store';

export interface ConnectionState {
  browserOnline: boolean;
  serverReachable: boolean;
  /** Reply streams currently waiting to reconnect. */
  reconnecting: number;
  /** Set for a few seconds after the connection came back. */
  recovered: boolean;
}

export const connection = createStore<ConnectionState>({
  browserOnline: typeof navigator === 'undefined' ? true : navigator.onLine,
  serverReachable: true,
  reconnecting: 0,
  recovered: false,
});

export function isOffline(s: ConnectionState): boolean {
  return !s.browserOnline || !s.serverReachable;
}

let recoveredTimer: ReturnType<typeof setTimeout> | null = null;
function update(patch: Partial<ConnectionState>) {
  const before = connection.get();
  const after = { ...before, ...patch };
  const wasDown = isOffline(before) || before.reconnecting > 0;
  const isDown = isOffline(after) || after.reconnecting > 0;
  if (wasDown && !isDown) {
    after.recovered = true;
    if (recoveredTimer) clearTimeout(recoveredTimer);
    recoveredTimer = setTimeout(() => connection.set((s) => ({ ...s, recovered: false })), 4000);
  } else if (isDown) {
    after.recovered = false;
  }
  connection.set(after);
}

export function setReconnecting(count: number) {
  if (connection.get().reconnecting !== count) update({ reconnecting: count });
}

let installed = false;
/** Wires the browser's online/offline events and the API client's reachability reports. */
export function installConnectionWatch(onBackOnline: () => void): void {
  if (installed) return;
  installed = true;
  window.addEventListener('online', () => {
    update({ browserOnline: true });
    onBackOnline();
  });
  window.addEventListener('offline', () => update({ browserOnline: false }));
  onReachability((reachable) => {
    const was = connection.get().serverReachable;
    if (was !== reachable) update({ serverReachable: reachable });
    if (!was && reachable) onBackOnline();
    if (!reachable) probeUntilReachable();
  });
}

// While the server cannot be reached and nothing else is asking, knock on /healthz with
// backoff so that the app notices the server is back (and sends what is waiting).
let probing = false;
function probeUntilReachable(attempt = 1): void {
  if (probing && attempt === 1) return;
  probing = true;
  setTimeout(async () => {
    if (connection.get().serverReachable) {
      probing = false;
      return;
    }
    if (!connection.get().browserOnline) {
      probeUntilReachable(attempt + 1);
      return;
    }
    let ok = false;
    try {
      ok = (await fetch(paths.healthz(), { cache: 'no-store' })).ok;
    } catch {
      ok = false;
    }
    if (ok) {
      probing = false;
      reportReachable(true);
    } else {
      probeUntilReachable(attempt + 1);
    }
  }, backoffDelay(attempt));
}
