import { connection } from '../lib/connection';
import { useStore } from '../lib/store';
import { outboxItems } from '../lib/sync';

function changes(n: number): string {
  return n === 1 ? '1 change' : `${n} changes`;
}

/** Says whether we are connected, reconnecting or offline, and what is waiting to be sent. */
export function ConnectionBanner() {
  const c = useStore(connection);
  const items = useStore(outboxItems);
  const pending = items.filter((i) => i.state === 'pending').length;
  let text = '';
  let kind = '';
  if (!c.browserOnline) {
    kind = 'offline';
    text = `You're offline. Sessions you opened stay readable, and you can keep writing${
      pending ? ` — ${changes(pending)} will be sent when you're back online` : '; it will be sent when you are back online'
    }.`;
  } else if (!c.serverReachable) {
    kind = 'offline';
    text = `Can't reach Plansmith. Retrying automatically${pending ? `; ${changes(pending)} waiting to be sent` : ''}.`;
  } else if (c.reconnecting > 0) {
    kind = 'reconnecting';
    text = 'Connection lost. Reconnecting — the reply will continue where it stopped.';
  } else if (c.recovered) {
    kind = 'online';
    text = pending ? `Back online. Sending ${changes(pending)}…` : 'Back online.';
  }
  return (
    <div className={`banner ${kind ? `banner-${kind}` : 'banner-hidden'}`} role="status" aria-live="polite" data-testid="connection-banner" data-state={kind || 'online'}>
      {text}
    </div>
  );
}
