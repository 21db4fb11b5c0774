import { api, ApiError, onUnauthorized } from '../api/client';
import { paths } from '../api/paths';
import type { AccountErasure, AuthResponse, LoginRequest, RegisterRequest, User } from '../api/types';
import { cachedGet, clearSavedData, saveCopy } from './cache';
import { navigate, parseRoute, PUBLIC_ROUTES } from './router';
import { createStore } from './store';

const LAST_USER_KEY = 'plansmith_last_user';
function safeLocalStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** undefined: not known yet; null: signed out. */
export const currentUser = createStore<User | null | undefined>(undefined);

/** A word for the signed-out front page after the account was erased; gone at the next sign-in. */
export const farewell = createStore<string | null>(null);

export async function loadUser(): Promise<void> {
  try {
    const { data } = await cachedGet<User>(paths.me());
    currentUser.set(data);
  } catch (error) {
    // Signed out (401), or offline with nothing saved: the sign-in page explains either way.
    void (error instanceof ApiError);
    currentUser.set(null);
  }
}

/** `totp`: the authenticator app's code, for accounts with two-step sign-in on (without it
 * such an account answers 401 `mfa_required`). */
export async function signIn(email: string, password: string, totp?: string): Promise<User> {
  const body: LoginRequest = totp ? { email, password, totp } : { email, password };
  const { user } = await api.post<AuthResponse>(paths.login(), body, { quiet401: true });
  await afterSignIn(user);
  return user;
}

export async function signUp(email: string, password: string, name: string): Promise<User> {
  const { user } = await api.post<AuthResponse>(paths.register(), { email, password, name: name || null } satisfies RegisterRequest);
  await afterSignIn(user);
  return user;
}

async function afterSignIn(user: User) {
  // Another account on this device: what was saved for the previous one must not show.
  const previous = safeLocalStorage()?.getItem(LAST_USER_KEY);
  if (previous && previous !== user.id) await clearSavedData();
  safeLocalStorage()?.setItem(LAST_USER_KEY, user.id);
  farewell.set(null);
  await saveCopy(paths.me(), user);
  currentUser.set(user);
}

export async function signOut(): Promise<void> {
  try {
    await api.post(paths.logout());
  } finally {
    await forgetSignIn();
  }
}

/** Forgets the signed-in user on this device, once the server has ended the sign-in; then
 * the sign-in page, unless `stay` (a page that explains what happened itself). */
export async function forgetSignIn(options: { stay?: boolean } = {}): Promise<void> {
  await clearSavedData();
  currentUser.set(null);
  if (!options.stay) navigate('/signin', { replace: true });
}

/** Erases the signed-in account on the server (the password asked again), then everything this
 * device kept for it, and shows the front page. A wrong password (401 `invalid_credentials`)
 * throws without signing this device out. */
export async function eraseAccount(password: string): Promise<void> {
  await api.delete(paths.me(), { quiet401: true }, { password } satisfies AccountErasure);
  safeLocalStorage()?.removeItem(LAST_USER_KEY);
  farewell.set('Your account was erased.');
  await forgetSignIn({ stay: true });
  navigate('/', { replace: true });
}

export function installUnauthorizedRedirect(): void {
  onUnauthorized(() => {
    currentUser.set(null);
    const here = location.pathname + location.search;
    // The sign-in pages, and the pages anyone may open (an emailed link), stay where they are.
    // So do the front page, which shows visitors what Plansmith is, and a page not found.
    const route = parseRoute(location.pathname).name;
    if (location.pathname === '/' || location.pathname.startsWith('/sign') || PUBLIC_ROUTES.has(route) || route === 'not-found') return;
    navigate(`/signin?next=${encodeURIComponent(here)}`, { replace: true });
  });
}
