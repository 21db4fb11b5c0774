// Errors the app did not handle — a render error an error boundary caught, an uncaught
// exception, an unhandled promise rejection — go to the API's `client-errors` route, where the
// server groups them (first line of the message + first stack frame) for admins and Sentry.
//
// A page load sends few and small reports: the same error (same key as the server's grouping) at
// most once a minute, at most MAX_REPORTS in all, message and stack cut short. Reporting never
// throws and never reports its own failures: a report that cannot be sent is dropped.

import { paths } from '../api/paths';
import type { ClientErrorReport } from '../api/types';
import { routePattern } from './router';

export type ErrorSource = 'boundary' | 'onerror' | 'unhandledrejection';

/** Reports sent by one page load at most. */
export const MAX_REPORTS = 10;
/** The same error is sent again only after this long. */
export const REPEAT_AFTER_MS = 60_000;
/** Characters kept of the message and of the stack (React's component stack included). JSON
 * writes a character as 6 bytes at worst, so a report stays under 32 KiB: half of what the server
 * takes and what the browser lets a keepalive request carry. */
export const MAX_MESSAGE_CHARS = 1_000;
export const MAX_STACK_CHARS = 4_000;

/** Sends one report's JSON; resolves to how long the server asked to wait (ms; 0 if not). */
export type Transport = (body: string) => Promise<number>;

export interface ReporterOptions {
  send: Transport;
  /** The page, as a route pattern (`/sessions/:id`): never an id. */
  page: () => string;
  now?: () => number;
}

/** What an error boundary knows beyond the error. */
export interface BoundaryContext {
  /** The error id the fallback shows, so support can find the report a person quotes. */
  errorId?: string | null;
  componentStack?: string | null;
}

export class ErrorReporter {
  private sent = 0;
  private readonly lastSent = new Map<string, number>();
  private quietUntil = 0;
  private readonly now: () => number;

  constructor(private readonly options: ReporterOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Sends a report of `error` unless the page has sent its share; returns whether it did. */
  report(error: unknown, source: ErrorSource, context: BoundaryContext = {}): boolean {
    try {
      return this.tryReport(error, source, context);
    } catch {
      return false;
    }
  }

  private tryReport(error: unknown, source: ErrorSource, context: BoundaryContext): boolean {
    const now = this.now();
    if (this.sent >= MAX_REPORTS || now < this.quietUntil) return false;
    const described = describeError(error);
    const key = `${firstLine(described.message)}\n${firstFrame(described.stack)}`;
    const last = this.lastSent.get(key);
    if (last !== undefined && now - last < REPEAT_AFTER_MS) return false;

    const report = buildReport(described, source, context, this.options.page());
    this.sent += 1;
    this.lastSent.set(key, now);
    this.options
      .send(JSON.stringify(report))
      .then((waitMs) => {
        if (waitMs > 0) this.quietUntil = this.now() + waitMs;
      })
      .catch(() => {});
    return true;
  }
}

interface Described {
  message: string;
  stack?: string;
}

/** Anything thrown (or rejected with) as a message and, if it has one, a stack. */
export function describeError(error: unknown): Described {
  if (isErrorLike(error)) {
    const name = typeof error.name === 'string' && error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    const message = error.message.trim() ? error.message : '(no message)';
    return { message: `${name}${message}`, stack: typeof error.stack === 'string' ? error.stack : undefined };
  }
  if (typeof error === 'string') return { message: error.trim() ? error : '(empty error message)' };
  if (error === undefined || error === null) return { message: `(${String(error)} thrown or rejected)` };
  let text: string;
  try {
    text = JSON.stringify(error) ?? String(error);
  } catch {
    text = Object.prototype.toString.call(error);
  }
  return { message: `Non-error value: ${text}` };
}

function isErrorLike(value: unknown): value is { name?: unknown; message: string; stack?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

function buildReport(described: Described, source: ErrorSource, context: BoundaryContext, page: string): ClientErrorReport {
  let message = truncate(described.message, MAX_MESSAGE_CHARS);
  // On a line of its own after the first: the server groups by the first line.
  if (context.errorId) message += `\nError id shown on the page: ${context.errorId}`;
  const parts: string[] = [];
  if (described.stack) parts.push(described.stack);
  if (context.componentStack) parts.push(`Component stack:${context.componentStack}`);
  const report: ClientErrorReport = { message, url: page, source };
  if (parts.length) report.stack = truncate(parts.join('\n\n'), MAX_STACK_CHARS);
  return report;
}

function firstLine(text: string): string {
  return text.trim().split('\n', 1)[0];
}

/** The stack's first frame, found as the server finds it (V8's `at …`, Firefox's `fn@url`). */
function firstFrame(stack: string | undefined): string {
  if (!stack) return '';
  return (
    stack
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith('at ') || l.includes('@')) ?? ''
  );
}

/** At most `max` characters (UTF-16 units), on a line break when one is near, never between
 * the two halves of a surrogate pair (the server's JSON parser refuses a lone half). */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const lineEnd = text.lastIndexOf('\n', end);
  if (lineEnd > max / 2) end = lineEnd;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** POSTs the report with the page's cookie (so the server can tell who it happened to) as a
 * keepalive request, which outlives the page; without fetch, or when it fails before an answer,
 * a beacon is the last try. Never rejects. */
export async function postReport(body: string): Promise<number> {
  const url = paths.clientErrors();
  try {
    const res = await fetch(url, {
      method: 'POST',
      body,
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
    });
    return res.status === 429 ? retryAfterMs(res.headers.get('retry-after')) : 0;
  } catch {
    try {
      // A string goes as text/plain, which every browser lets a beacon send; the server reads
      // the body whatever its content type.
      navigator.sendBeacon(url, body);
    } catch {
      // Nothing more to try, and nothing to tell: a report about reporting would loop.
    }
    return 0;
  }
}

function retryAfterMs(header: string | null): number {
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : REPEAT_AFTER_MS;
}

const reporter = new ErrorReporter({
  send: postReport,
  page: () => (typeof location === 'undefined' ? '/other' : routePattern(location.pathname)),
});

/** Reports an error the app caught but could not handle (an error boundary's). Never throws. */
export function reportError(error: unknown, source: ErrorSource, context?: BoundaryContext): void {
  reporter.report(error, source, context);
}

let installed = false;

/** Reports uncaught exceptions and unhandled rejections from now on; once per page. */
export function installErrorReporting(): void {
  if (installed || typeof window === 'undefined') return;
  installed = true;
  window.addEventListener('error', (event) => {
    if (event.error !== undefined && event.error !== null) {
      reportError(event.error, 'onerror');
      return;
    }
    // A script of another origin: the browser hides everything but "Script error.".
    if (!event.filename && /^Script error\.?$/.test(event.message)) return;
    const where = event.filename ? `\n    at ${event.filename}:${event.lineno}:${event.colno}` : '';
    reportError({ message: event.message || '(no message)', stack: `${event.message}${where}` }, 'onerror');
  });
  window.addEventListener('unhandledrejection', (event) => reportError(event.reason, 'unhandledrejection'));
}
