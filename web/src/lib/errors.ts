// Turns anything thrown into what a person reads: what went wrong, what to do next, and the
// request id to quote to support. Never raw JSON, never a stack trace.

import { ApiError } from '../api/client';
import { supportContact } from './about';
import { humanDuration } from './durations';

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

/** The field a refusal is about and the problem without the `field: ` prefix. The server names
 * the field in `error.field`; older servers only wrote it into the message ("title: must not be
 * empty"), which is still read when `field` is missing. */
export function refusedField(error: ApiError): { field: string; problem: string } | null {
  if (error.field) {
    const prefix = `${error.field}: `;
    return { field: error.field, problem: error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message };
  }
  const m = /^([\w.]+): (.+)$/.exec(error.message);
  return m ? { field: m[1], problem: m[2] } : null;
}

/** "is longer than 200 characters" reads on after the field's name; "give the key a name" is a
 * sentence of its own. */
function readsOnAfterName(problem: string): boolean {
  return /^(is|are|must|has|have|does|do|was|should|can|cannot|may)\b/.test(problem);
}

function sentence(text: string): string {
  const capital = `${text[0].toUpperCase()}${text.slice(1)}`;
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** "title: must not be empty" → "Title must not be empty." (where no form shows it by its field). */
function fieldSentence(error: ApiError): string {
  const refused = refusedField(error);
  if (!refused) return error.message;
  const name = refused.field.replace(/[_.]/g, ' ');
  return sentence(readsOnAfterName(refused.problem) ? `${name} ${refused.problem}` : refused.problem);
}

export function humanError(error: unknown): HumanError {
  if (error instanceof ApiError) {
    return {
      message: humanWaits(error.code === 'invalid_field' ? fieldSentence(error) : error.message),
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
    hint: `Try again. If it keeps happening, reload the page or write to ${supportContact()}.`,
    requestId: null,
    code: 'client_error',
  };
}

/** The same API error in the app's own words, where the API's would not fit the page (its hint
 * may name an API route); the request id is kept. Anything else is returned as it is. */
export function inOtherWords(error: unknown, message: string, hint = ''): unknown {
  if (!(error instanceof ApiError)) return error;
  return new ApiError(error.status, error.code, message, hint, error.requestId, error.retryAfterMs, error.field);
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

/** The field the server refused (`error.field`), in the words of the form: `labels` gives the
 * form's name for each field it has; a field the form does not have is no field error (the
 * whole-form notice shows it). `codes`: the refusals read this way (a filter form also takes
 * `invalid_query`, whose field is a query parameter). */
export function fieldError(error: unknown, labels: Record<string, string>, codes: readonly string[] = ['invalid_field']): FieldError | null {
  if (!(error instanceof ApiError) || !codes.includes(error.code)) return null;
  const refused = refusedField(error);
  if (!refused || !Object.hasOwn(labels, refused.field)) return null;
  const { field, problem } = refused;
  const label = labels[field];
  const hint = humanWaits(error.hint);
  const tooLong = /^is longer than (\d+) characters$/.exec(problem);
  if (problem === 'must not be empty') return { field, message: `${label} is empty: write a few words.`, hint };
  if (tooLong) return { field, message: `${label} is too long: at most ${Number(tooLong[1]).toLocaleString('en-US')} characters.`, hint };
  if (readsOnAfterName(problem)) return { field, message: sentence(`${label} ${problem}`), hint };
  return { field, message: sentence(problem), hint };
}
