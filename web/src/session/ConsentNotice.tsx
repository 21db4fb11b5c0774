import { useEffect, useRef, type KeyboardEvent } from 'react';
import { ErrorNotice } from '../components/ErrorNotice';
import { Link } from '../components/Link';
import { useOfflinePlanner } from '../lib/about';
import { CONSENT_SETTINGS } from '../lib/consent';
import type { ConsentGate } from './useConsentGate';

const COMPOSER = 'composer-input';

function focusComposer() {
  document.getElementById(COMPOSER)?.focus();
}

/** Above the composer, before the first message: the notice in the server's words (which
 * providers get the conversation, or that it stays on this server), with "Agree and send" and
 * "Not now"; what happened after "Not now"; why the consent could not be read or recorded.
 * `hasText`: the composer holds what was not sent. */
export function ConsentNotice({ gate, hasText }: { gate: ConsentGate; hasText: boolean }) {
  const { phase, notice, error, asked } = gate;
  const offlinePlanner = useOfflinePlanner();
  const heading = useRef<HTMLHeadingElement>(null);
  const agree = useRef<HTMLButtonElement>(null);

  // The keyboard goes to the notice each time it is asked for, so it is read first.
  useEffect(() => {
    if (asked > 0) heading.current?.focus();
  }, [asked]);
  // Recording failed: back on "Agree and send", to try again (the error is announced).
  useEffect(() => {
    if (phase === 'asking' && error !== null) agree.current?.focus();
  }, [phase, error]);

  async function accept() {
    if (await gate.accept()) focusComposer();
  }

  function decline() {
    gate.decline();
    focusComposer();
  }

  function onKeyDown(e: KeyboardEvent<HTMLElement>) {
    if (e.key === 'Escape' && phase === 'asking') {
      e.preventDefault();
      decline();
    }
  }

  if ((phase === 'asking' || phase === 'recording') && notice) {
    const recording = phase === 'recording';
    return (
      <section
        className="notice notice-info consent-notice"
        aria-labelledby="consent-heading"
        aria-describedby="consent-text"
        aria-busy={recording || undefined}
        data-testid="consent-notice"
        onKeyDown={onKeyDown}
      >
        <h3 id="consent-heading" tabIndex={-1} ref={heading}>
          Before you send: how replies are written
        </h3>
        <p id="consent-text">{notice.text}</p>
        <p className="small">
          Plansmith asks this once and keeps your answer (notice version {notice.version}). You can withdraw your consent at any time
          under <Link href={CONSENT_SETTINGS}>Account → Consents</Link>.
        </p>
        {error !== null && <ErrorNotice error={error} compact />}
        <div className="row">
          <button ref={agree} type="button" className="button primary small" disabled={recording} onClick={() => void accept()}>
            {recording ? 'Saving your answer…' : 'Agree and send'}
          </button>
          <button type="button" className="button small" disabled={recording} onClick={decline}>
            Not now
          </button>
        </div>
      </section>
    );
  }

  if (phase === 'declined') {
    return (
      <div className="notice notice-info compact" id="consent-declined" role="status" data-testid="consent-declined">
        <p>
          Nothing was sent.{hasText && ' Your message is still in the box below.'}{' '}
          {offlinePlanner
            ? 'Plansmith answers only once you agree to how your messages are handled.'
            : 'Without your consent Plansmith cannot send your messages to the AI model providers, so you cannot get AI replies.'}{' '}
          Send again when you want to agree.
        </p>
      </div>
    );
  }

  if (error !== null) {
    // The consent could not be read: nothing is sent without knowing it.
    return (
      <div data-testid="consent-error">
        <ErrorNotice error={error} onRetry={gate.retry} compact />
        <p className="muted small">Nothing was sent.{hasText && ' Your message is still in the box below.'}</p>
      </div>
    );
  }
  return null;
}
