// Renaming and deleting a planning session. Both need the server there and then (see
// SessionControls): a rename is shown as the server took it (trimmed), and a deletion can be
// refused while the agent writes a reply, which only the server knows.

import { api } from '../api/client';
import { paths } from '../api/paths';
import type { RenameSession, Session } from '../api/types';
import { forgetSaved, saveCopy } from './cache';
import { inOtherWords, isApiError } from './errors';
import { createStore } from './store';
import { dropSession } from './sync';

export async function renameSession(id: string, title: string): Promise<Session> {
  const session = await api.patch<Session>(paths.session(id), { title } satisfies RenameSession);
  void saveCopy(paths.session(id), session);
  return session;
}

/** A deletion just made, for the sessions list to confirm after the session page left. */
export const lastDeleted = createStore<{ id: string; title: string } | null>(null);

export async function deleteSession(session: Pick<Session, 'id' | 'title'>): Promise<void> {
  try {
    await api.delete<void>(paths.session(session.id));
  } catch (error) {
    // Already gone (deleted in another tab): what was asked for is done.
    if (isApiError(error, 'not_found')) return forgetLocally(session);
    if (isApiError(error, 'reply_in_progress')) {
      throw inOtherWords(
        error,
        'The planning agent is still writing a reply in this session, so it cannot be deleted yet.',
        'Wait until the reply is finished (a few seconds), then delete it again.',
      );
    }
    throw error;
  }
  await forgetLocally(session);
}

/** Nothing of a deleted session stays on this device. */
async function forgetLocally(session: Pick<Session, 'id' | 'title'>): Promise<void> {
  await Promise.all([forgetSaved(paths.session(session.id)), dropSession(session.id)]);
  lastDeleted.set({ id: session.id, title: session.title });
}
