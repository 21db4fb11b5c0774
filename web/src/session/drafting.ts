// "Draft the rest": the agent writes every section of the current step still empty. The app
// knows which sections those are before the agent's first word, and shows them as being drafted.

import type { PlanDocument, Session } from '../api/types';

/** What to send for it (the planning agent and its offline stand-in both know the phrase). */
export const DRAFT_THE_REST = 'draft the rest';

export function asksToDraftTheRest(message: string): boolean {
  return message.toLowerCase().includes(DRAFT_THE_REST);
}

/** The sections the agent was asked to draft, until its reply ends. `replyId` is null until the
 * message reached the server. */
export interface Drafting {
  documentId: string;
  sections: string[];
  replyId: string | null;
  /** The message that asked, to match it when it is delivered. */
  content: string;
}

export function emptySections(doc: PlanDocument): PlanDocument['sections'] {
  return doc.sections.filter((s) => s.content.trim() === '');
}

/** Sections written across the session, counting the current step's sections that the agent
 * has drafted in this reply but that the last loaded revision still has empty. */
export function liveFilled(session: Session, currentDoc: PlanDocument | undefined, agentTexts: ReadonlyMap<string, string>): number {
  if (!currentDoc) return session.sections_filled;
  const extra = emptySections(currentDoc).filter((s) => (agentTexts.get(s.id) ?? '').trim() !== '').length;
  return Math.min(session.sections_total, session.sections_filled + extra);
}
