import { useEffect, useRef, useState } from 'react';
import { incidentsApi, type MyIncident } from '../api/incidents';
import { isApiError } from '../lib/errors';
import { bySeverity, isUrgent, severityName } from '../lib/incidents';
import { fullTime, relativeTime } from '../lib/durations';
import { ErrorNotice } from './ErrorNotice';

/** How often the notices are asked for again while the page is visible. */
export const INCIDENT_POLL_MS = 5 * 60_000;

/** The incident notices addressed to the signed-in person that they have not marked read, one
 * banner each across the app (the most severe first, then the newest), until they dismiss it
 * (which sends the read receipt). Asked for when the app loads (and the person signs in), then
 * every `pollMs` while the page is visible, and when it becomes visible again after that long:
 * never per page navigation. */
export function IncidentBanners({ pollMs = INCIDENT_POLL_MS }: { pollMs?: number }) {
  const [notices, setNotices] = useState<MyIncident[]>([]);
  const [busy, setBusy] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, unknown>>({});
  // Dismissed here: an answer that left before the receipt must not bring one back.
  const dismissed = useRef(new Set<string>());
  const focusNext = useRef<string | 'main' | null>(null);

  useEffect(() => {
    let alive = true;
    let last = 0;
    const controller = new AbortController();
    async function check() {
      last = Date.now();
      try {
        // quiet401: a background check must not send someone to sign in in the middle of typing.
        const { items } = await incidentsApi.mine({ quiet401: true, signal: controller.signal });
        if (alive) setNotices(items.filter((n) => !n.read_at && !dismissed.current.has(n.id)).sort(bySeverity));
      } catch {
        // Offline, or the server is busy: the banners shown stay; the next check tries again.
      }
    }
    void check();
    const visible = () => document.visibilityState !== 'hidden';
    const timer = setInterval(() => visible() && void check(), pollMs);
    const onVisible = () => visible() && Date.now() - last >= pollMs && void check();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      alive = false;
      controller.abort();
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [pollMs]);

  // After a dismissal: the focus goes to the next banner's button, or to the page's heading.
  useEffect(() => {
    const target = focusNext.current;
    if (target === null) return;
    focusNext.current = null;
    const next = target === 'main' ? null : document.getElementById(`incident-${target}-dismiss`);
    if (next) {
      next.focus();
      return;
    }
    const h1 = document.querySelector<HTMLElement>('main h1');
    if (h1) {
      h1.tabIndex = -1;
      h1.focus({ preventScroll: true });
    }
  }, [notices]);

  async function dismiss(notice: MyIncident) {
    if (busy === notice.id) return;
    setBusy(notice.id);
    setErrors(({ [notice.id]: _, ...rest }) => rest);
    try {
      await incidentsApi.markRead(notice.id);
      hide(notice);
    } catch (error) {
      // No longer addressed to this person: nothing to mark, nothing to show.
      if (isApiError(error, 'not_found')) hide(notice);
      else setErrors((all) => ({ ...all, [notice.id]: error }));
    } finally {
      setBusy(null);
    }
  }

  function hide(notice: MyIncident) {
    dismissed.current.add(notice.id);
    setNotices((all) => {
      const rest = all.filter((n) => n.id !== notice.id);
      const at = all.findIndex((n) => n.id === notice.id);
      focusNext.current = rest[Math.min(Math.max(at, 0), rest.length - 1)]?.id ?? 'main';
      return rest;
    });
  }

  if (notices.length === 0) return null;
  return (
    <div className="incidents" data-testid="incident-banners">
      {notices.map((n) => {
        const titleId = `incident-${n.id}-title`;
        return (
          <section
            key={n.id}
            className={`incident incident-${n.severity}`}
            role={isUrgent(n.severity) ? 'alert' : 'status'}
            aria-labelledby={titleId}
            data-testid="incident-banner"
            data-severity={n.severity}
          >
            <div className="incident-text">
              <p className="incident-title" id={titleId}>
                <span className="incident-severity">{severityName(n.severity)}:</span> {n.title}
              </p>
              <p className="incident-body">{n.body}</p>
              <p className="small incident-when">
                Posted{' '}
                <time dateTime={n.created_at} title={fullTime(n.created_at)}>
                  {relativeTime(n.created_at)}
                </time>
              </p>
              {errors[n.id] !== undefined && <ErrorNotice error={errors[n.id]} compact />}
            </div>
            <button
              type="button"
              id={`incident-${n.id}-dismiss`}
              className="button small"
              // Not `disabled`: that would take the focus away from it while the receipt is sent.
              aria-disabled={busy === n.id || undefined}
              aria-label={`Got it, hide the notice “${n.title}”`}
              onClick={() => void dismiss(n)}
            >
              Got it
            </button>
          </section>
        );
      })}
    </div>
  );
}
