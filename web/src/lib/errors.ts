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
