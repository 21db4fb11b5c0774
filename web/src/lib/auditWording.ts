// The audit trail in people's words: who acted and what they did. The server names each action
// after its route and method (`GET …/sessions/{id}` → `sessions.read`; `create` for POST,
// `update` for PUT and PATCH, `delete`), and the platform's own changes after what it did
// (`sessions.replies.write`). An action missing here is shown by its name.

/** Who acted, as the person whose data it is reads it. */
const ACTORS: Record<string, string> = {
  user: 'You',
  admin: 'An administrator',
  system: 'Plansmith',
};

export function actorWording(actor: string): string {
  return Object.hasOwn(ACTORS, actor) ? ACTORS[actor] : actor;
}

const ACTIONS: Record<string, string> = {
  // Planning sessions.
  'sessions.read': 'Viewed a planning session',
  'sessions.create': 'Started a planning session',
  'sessions.update': 'Renamed a planning session',
  'sessions.delete': 'Deleted a planning session',
  'sessions.complete.create': 'Completed a planning session',
  'sessions.abandon.create': 'Abandoned a planning session',
  'sessions.steps.complete.create': 'Completed a step of a planning session',
  'sessions.at.read': 'Viewed the documents as they were at an earlier time',
  'sessions.export.md.read': 'Exported a plan as Markdown',
  'sessions.export.docx.read': 'Exported a plan as a Word document',
  'sessions.messages.read': 'Read the conversation of a planning session',
  'sessions.messages.create': 'Sent a message to the planning agent',
  'sessions.replies.stream.read': 'Followed a reply while it was written',
  'sessions.replies.retry.create': 'Asked for a reply to be written again',
  'sessions.replies.write': 'The planning agent wrote a reply',
  'sessions.documents.read': 'Viewed the documents of a planning session',
  'sessions.documents.export.md.read': 'Exported a document as Markdown',
  'sessions.documents.revisions.read': 'Viewed the history of a document',
  'sessions.documents.restore.create': 'Restored an earlier revision of a document',
  'sessions.documents.sections.update': 'Edited a document section',
  // The account.
  'me.read': 'Viewed your account details',
  'me.delete': 'Deleted the account',
  'me.password.create': 'Changed your password',
  'me.export.read': 'Downloaded your data',
  'me.consents.read': 'Viewed your consents',
  'me.consents.create': 'Gave or withdrew a consent',
  'me.sign-ins.read': 'Viewed where you are signed in',
  'me.sign-ins.delete': 'Signed out a device',
  'me.sign-ins.revoke-all.create': 'Signed out everywhere',
  'me.mfa.read': 'Viewed your two-step sign-in settings',
  'me.mfa.totp.create': 'Started turning on two-step sign-in',
  'me.mfa.totp.confirm.create': 'Turned on two-step sign-in',
  'me.mfa.totp.delete': 'Turned off two-step sign-in',
  'me.access-log.read': 'Viewed this access log',
  'me.incidents.read': 'Checked for service notices',
  'me.incidents.read.create': 'Marked a service notice as read',
  // Administrators, on someone's account.
  'admin.users.read': 'An administrator viewed your account',
  'admin.users.update': 'An administrator changed your account',
  'admin.users.revoke-sign-ins.create': 'An administrator signed you out everywhere',
  // The platform.
  'keys.rotate': 'Plansmith rotated its data protection keys',
};

/** Every action with a wording: suggestions for the admin's action filter. */
export const KNOWN_ACTIONS: readonly string[] = Object.keys(ACTIONS);

/** What was done, e.g. `sessions.documents.sections.update` → "Edited a document section". A
 * read of `sessions` without a session is the list of them. Unknown actions keep their name. */
export function actionWording(action: string, sessionId?: string | null): string {
  if (action === 'sessions.read' && !sessionId) return 'Viewed your list of planning sessions';
  return Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : action;
}
