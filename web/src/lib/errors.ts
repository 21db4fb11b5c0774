// Turns anything thrown into what a person reads: what went wrong, what to do next, and the
// request id to quote to support. Never raw JSON, never a stack trace.

import { ApiError } from '../api/client';
import { humanDuration } from './durations';

export const SUPPORT_CONTACT = 'support@plansmith.dev';

export interface HumanError {
  message: string;
  hint: string;
  /** Only for faults on the server's side (5xx): the one case where quoting it helps. */
  requestId: string | null;
  code: string;
}

/** "Wait 895 seconds" → "Wait about 15 minutes". */
export function humanWaits(text: string): string {
  return text.replace(/\b(wait|in) (\d+) seconds?\b/gi, (_, verb: string, n: string) => `${verb} ${humanDuration(Number(n) * 1000)}`);
}

/** "title: must not be empty" → "Title must not be empty." (where no form shows it by its field). */
function fieldSentence(message: string): string {
  const m = /^([\w.]+): (.+)$/.exec(message);
  if (!m) return message;
  const name = m[1].replace(/[_.]/g, ' ');
  return `${name[0].toUpperCase()}${name.slice(1)} ${m[2]}${/[.!?]$/.test(m[2]) ? '' : '.'}`;
}

export function humanError(error: unknown): HumanError {
  if (error instanceof ApiError) {
    return {
      message: humanWaits(error.code === 'invalid_field' ? fieldSentence(error.message) : error.message),
      hint: humanWaits(error.hint),
      requestId: error.status >= 500 ? error.requestId : null,
      code: error.code,
    };
  }
  if (error instanceof TypeError && /fetch|network/i.test(error.message)) {
    return {
      message: "Plansmith can't be reached right now.",
      hint: 'Check your internet connection and try again.',
      requestId: null,
      code: 'network',
    };
  }
  return {
    message: 'Something went wrong in the app.',
    hint: `Try again. If it keeps happening, reload the page or write to ${SUPPORT_CONTACT}.`,
    requestId: null,
    code: 'client_error',
  };
}

/** The same API error in the app's own words, where the API's would not fit the page (its hint
 * may name an API route); the request id is kept. Anything else is returned as it is. */
export function inOtherWords(error: unknown, message: string, hint = ''): unknown {
  if (!(error instanceof ApiError)) return error;
  return new ApiError(error.status, error.code, message, hint, error.requestId, error.retryAfterMs);
}

/** Whether `error` is the API's answer `code`. */
export function isApiError(error: unknown, code: string): error is ApiError {
  return error instanceof ApiError && error.code === code;
}

/** A refusal of one field of a form (`invalid_field`), in the form's words. */
export interface FieldError {
  field: string;
  message: string;
  /** The server's next step ("Choose a longer password."). */
  hint: string;
}

/** The server names a refused field as `name: problem` ("title: must not be empty"). `labels`
 * gives the form's name for each field it has; a field the form does not have is no field
 * error (the whole-form notice shows it). */
export function fieldError(error: unknown, labels: Record<string, string>): FieldError | null {
  if (!(error instanceof ApiError) || error.code !== 'invalid_field') return null;
  const m = /^([\w.]+): (.+)$/.exec(error.message);
  if (!m || !Object.hasOwn(labels, m[1])) return null;
  const [, field, problem] = m;
  const label = labels[field];
  const hint = humanWaits(error.hint);
  const tooLong = /^is longer than (\d+) characters$/.exec(problem);
  if (problem === 'must not be empty') return { field, message: `${label} is empty: write a few words.`, hint };
  if (tooLong) return { field, message: `${label} is too long: at most ${Number(tooLong[1]).toLocaleString('en-US')} characters.`, hint };
  return { field, message: `${label} ${problem}.`.replace(/\.\.$/, '.'), hint };
}
