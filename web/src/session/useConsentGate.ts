// What stands between a message and the model providers: the person's consent to the notice
// (lib/consent.ts). With it, a message goes out at once; without it, the message waits behind
// the notice, and goes out as soon as the person agrees. Declining, or a failure to read or to
// record the consent, sends nothing and loses nothing: the text stays in the composer.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { ConsentNotice } from '../api/types';
import { changeConsent, consentStands, knownConsents, llmNotice, LLM_PROCESSING, loadConsents } from '../lib/consent';

/** `checking`: reading the consent from the server before a message (it was not known yet);
 * `asking`: the notice is shown; `recording`: the person agreed and the server is told;
 * `declined`: the person said not now, and nothing was sent. */
export type ConsentPhase = 'idle' | 'checking' | 'asking' | 'recording' | 'declined';

/** Something that sends to the model providers once consent stands (a message, a retry). */
type Action = () => unknown;

export interface ConsentGate {
  phase: ConsentPhase;
  /** The notice to show while asking, in the server's words and version. */
  notice: ConsentNotice | null;
  /** Why the consent could not be read or recorded; what was to be sent is still held. */
  error: unknown;
  /** Bumped each time the notice is asked for (again): where the keyboard goes to it. */
  asked: number;
  /** Runs `action` now when the consent stands; otherwise holds it behind the notice. */
  guard: (action: Action) => Promise<void>;
  /** Records the consent, then runs what was held; false when it could not be recorded. */
  accept: () => Promise<boolean>;
  /** Sends nothing; what was held is dropped (its text stays where the person wrote it). */
  decline: () => void;
  /** Reads the consent again after a failed read, and goes on with what was held. */
  retry: () => void;
}

export function useConsentGate(): ConsentGate {
  const [phase, setPhase] = useState<ConsentPhase>('idle');
  const [notice, setNotice] = useState<ConsentNotice | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [asked, setAsked] = useState(0);
  const held = useRef<Action | null>(null);
  // A read or a recording under way: another press of Send waits for it.
  const busy = useRef(false);

  // Read again whenever a session page opens: a consent withdrawn on another device is asked
  // for again. Until the answer comes, what was known stands; a failed read changes nothing.
  useEffect(() => {
    loadConsents().catch(() => {});
  }, []);

  const guard = useCallback(async (action: Action) => {
    if (busy.current) return;
    let data = knownConsents();
    if (data === null) {
      held.current = action;
      busy.current = true;
      setPhase('checking');
      setError(null);
      try {
        data = await loadConsents();
      } catch (err) {
        setError(err);
        setPhase('idle');
        return;
      } finally {
        busy.current = false;
      }
    }
    if (consentStands(data)) {
      held.current = null;
      setError(null);
      setPhase('idle');
      await action();
      return;
    }
    held.current = action;
    setNotice(llmNotice(data));
    setError(null);
    setPhase('asking');
    setAsked((n) => n + 1);
  }, []);

  const accept = useCallback(async () => {
    if (busy.current || held.current === null) return false;
    busy.current = true;
    setPhase('recording');
    setError(null);
    try {
      await changeConsent(LLM_PROCESSING, true);
    } catch (err) {
      setError(err);
      setPhase('asking');
      return false;
    } finally {
      busy.current = false;
    }
    const action = held.current;
    held.current = null;
    setPhase('idle');
    await action?.();
    return true;
  }, []);

  const decline = useCallback(() => {
    if (busy.current) return;
    held.current = null;
    setError(null);
    setPhase('declined');
  }, []);

  const retry = useCallback(() => {
    const action = held.current;
    if (action) void guard(action);
  }, [guard]);

  return { phase, notice, error, asked, guard, accept, decline, retry };
}
