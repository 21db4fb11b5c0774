// What this installation tells the app about itself (the API's `about` answer, `paths.about`):
// where people get help, the longest texts it takes, whether the built-in offline planner
// answers. Asked once per app load; the answer is kept on the device (the saved copy serves
// offline), and until there is one the app uses the defaults below, the server's own defaults.

import { paths } from '../api/paths';
import type { About } from '../api/types';
import { cachedGet } from './cache';
import { createStore, useStore } from './store';

/** Where to write when /about cannot be reached (offline on a first visit). */
export const FALLBACK_SUPPORT_CONTACT = 'support@plansmith.dev';

/** The longest texts the server takes, in characters, by the field they are about. */
export interface Limits {
  title: number;
  idea: number;
  message: number;
  section: number;
}

/** The server's default limits (`limits.*`), for as long as its own answer is not here. */
export const DEFAULT_LIMITS: Limits = { title: 200, idea: 10_000, message: 20_000, section: 50_000 };

/** The installation's answer; null until it came (or when it could not be had). */
export const about = createStore<About | null>(null);

let asked: Promise<void> | null = null;

/** Asks the server once per app load; a later call waits for the same answer. */
export function loadAbout(get: (path: string) => Promise<{ data: About }> = cachedGet): Promise<void> {
  asked ??= get(paths.about()).then(
    ({ data }) => about.set(data),
    () => {
      // Not reachable and nothing saved: the defaults stay. The next app load asks again.
    },
  );
  return asked;
}

/** For tests: forget the answer and ask again on the next `loadAbout`. */
export function resetAbout(): void {
  asked = null;
  about.set(null);
}

export function supportContact(a: About | null = about.get()): string {
  return a?.support_contact.trim() || FALLBACK_SUPPORT_CONTACT;
}

export function limitsOf(a: About | null = about.get()): Limits {
  if (!a) return DEFAULT_LIMITS;
  const { title_chars, idea_chars, message_chars, section_chars } = a.limits;
  return { title: title_chars, idea: idea_chars, message: message_chars, section: section_chars };
}

export function useSupportContact(): string {
  return supportContact(useStore(about));
}

export function useLimits(): Limits {
  return limitsOf(useStore(about));
}

/** True only when the server said so: no notice on a guess. */
export function useOfflinePlanner(): boolean {
  return useStore(about)?.offline_planner === true;
}
