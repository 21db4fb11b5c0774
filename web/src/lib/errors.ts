// Turns anything thrown into what a person reads: what went wrong, what to do next, and the
// request id to quote to support. Never raw JSON, never a stack trace.

import { ApiError } from '../api/client';

export const SUPPORT_CONTACT = 'support@plansmith.dev';

export interface HumanError {
  message: string;
  hint: string;
  requestId: string | null;
  code: string;
}

export function humanError(error: unknown): HumanError {
  if (error instanceof ApiError) {
    return { message: error.message, hint: error.hint, requestId: error.requestId, code: error.code };
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
