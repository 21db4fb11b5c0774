// The one way the app talks to the API: same-origin fetch with the session cookie, JSON in and
// out, every failure turned into an ApiError that carries a human message and a next step.

import type { ApiErrorBody } from './types';

/** `network` when the server could not be reached at all (offline, DNS, refused, aborted). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string;
  readonly requestId: string | null;
  /** From Retry-After: how long the server asked us to wait before trying again. */
  readonly retryAfterMs: number | null;
  /** The input a refusal is about (`title`), when the server names one: shown under it. */
  readonly field: string | null;

  constructor(
    status: number,
    code: string,
    message: string,
    hint: string,
    requestId: string | null,
    retryAfterMs: number | null = null,
    field: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.hint = hint;
    this.requestId = requestId;
    this.retryAfterMs = retryAfterMs;
    this.field = field;
  }

  get isNetwork(): boolean {
    return this.code === 'network';
  }

  /** Worth trying again later without changing anything: no network, server busy or down, a
   * short rate limit. Not a used-up monthly budget (`over_budget`): waiting minutes won't help. */
  get isTransient(): boolean {
    return this.isNetwork || this.status >= 500 || (this.status === 429 && this.code !== 'over_budget');
  }
}

export function networkError(): ApiError {
  return new ApiError(
    0,
    'network',
    "Plansmith can't be reached right now.",
    'Check your internet connection, then try again.',
    null,
  );
}

/** Builds an ApiError from any HTTP error response, JSON-shaped or not. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const requestId = response.headers.get('x-request-id');
  const retryAfterSecs = Number(response.headers.get('retry-after'));
  const retryAfterMs = Number.isFinite(retryAfterSecs) && retryAfterSecs > 0 ? retryAfterSecs * 1000 : null;
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy page, an empty body): fall back to a message by status below.
  }
  const detail = (body as ApiErrorBody | null)?.error;
  if (detail && typeof detail.message === 'string') {
    return new ApiError(
      response.status,
      detail.code || 'error',
      detail.message,
      detail.hint || fallbackHint(response.status),
      detail.request_id || requestId,
      retryAfterMs,
      detail.field || null,
    );
  }
  return new ApiError(
    response.status,
    `http_${response.status}`,
    fallbackMessage(response.status),
    fallbackHint(response.status),
    requestId,
    retryAfterMs,
  );
}

function fallbackMessage(status: number): string {
  if (status === 401) return 'You are signed out.';
  if (status === 403) return "You don't have access to this.";
  if (status === 404) return "This page or item doesn't exist (any more).";
  if (status === 413) return 'That is too large to send.';
  if (status === 429) return 'Too many requests in a short time.';
  if (status >= 500) return 'Plansmith ran into a problem on its side.';
  return `The request failed (HTTP ${status}).`;
}

function fallbackHint(status: number): string {
  if (status === 401) return 'Sign in again to continue.';
  if (status === 404) return 'Go back to your sessions and open it from there.';
  if (status === 413) return 'Shorten the text and try again.';
  if (status === 429) return 'Wait a minute, then try again.';
  if (status >= 500) return 'Try again in a moment. If it keeps happening, contact support with the request id.';
  return 'Try again. If it keeps happening, contact support.';
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();
/** Called on every 401 so the app can send the person to the sign-in page. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

type ReachabilityListener = (reachable: boolean) => void;
const reachabilityListeners = new Set<ReachabilityListener>();
/** Told after every request whether the server answered (any status) or not. */
export function onReachability(listener: ReachabilityListener): () => void {
  reachabilityListeners.add(listener);
  return () => reachabilityListeners.delete(listener);
}
export function reportReachable(reachable: boolean) {
  reachabilityListeners.forEach((l) => l(reachable));
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Do not announce a 401 (used by the sign-in check itself). */
  quiet401?: boolean;
  headers?: Record<string, string>;
}

export async function request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  return readBody<T>(await send(method, path, body, options));
}

/** The answer to a conditional request: `notModified` (304) when the copy named by the ETag
 * sent is still current, otherwise the new data and its ETag. */
export type Conditional<T> = { notModified: true; etag: string | null } | { notModified: false; data: T; etag: string | null };

/** POST with `If-None-Match: <etag>` (when there is one), for endpoints that evaluate rather
 * than change something (OFREP's bulk evaluation); a 304 is an answer here, not an error. */
export async function conditionalPost<T>(path: string, body: unknown, etag: string | null, options: RequestOptions = {}): Promise<Conditional<T>> {
  const headers = etag ? { ...options.headers, 'if-none-match': etag } : options.headers;
  const response = await send('POST', path, body, { ...options, headers }, true);
  const answered = response.headers.get('etag');
  if (response.status === 304) return { notModified: true, etag: answered ?? etag };
  return { notModified: false, data: await readBody<T>(response), etag: answered };
}

async function send(method: string, path: string, body: unknown, options: RequestOptions, notModifiedOk = false): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.signal,
    });
  } catch (e) {
    if (options.signal?.aborted) throw e;
    reportReachable(false);
    throw networkError();
  }
  reportReachable(response.status !== 502 && response.status !== 503 && response.status !== 504);
  if (!response.ok && !(notModifiedOk && response.status === 304)) {
    const error = await errorFromResponse(response);
    if (response.status === 401 && !options.quiet401) unauthorizedListeners.forEach((l) => l());
    throw error;
  }
  return response;
}

async function readBody<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const type = response.headers.get('content-type') || '';
  if (type.includes('application/json')) return (await response.json()) as T;
  return (await response.text()) as T;
}

export const api = {
  get: <T>(path: string, options?: RequestOptions) => request<T>('GET', path, undefined, options),
  post: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>('POST', path, body ?? {}, options),
  put: <T>(path: string, body: unknown, options?: RequestOptions) => request<T>('PUT', path, body, options),
  patch: <T>(path: string, body: unknown, options?: RequestOptions) => request<T>('PATCH', path, body, options),
  /** `body` for the few deletions that must prove something (a password, a code). */
  delete: <T>(path: string, options?: RequestOptions, body?: unknown) => request<T>('DELETE', path, body, options),
};
