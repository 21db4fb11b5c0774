// How a revision is described in the history: who made it, what it restored, what it changed.

import type { Revision } from '../api/types';
import { fullTime, relativeTime } from '../lib/durations';

/** A revision as listed, with the fields the server is adding to the list (`restored_from`, the
 * revision a restore brought back; `changed_sections`, the ids of sections that differ from the
 * revision before). Optional until the generated API types have them; once they do, this is the
 * same type. */
export type RevisionInfo = Revision & {
  restored_from?: number | null;
  changed_sections?: string[] | null;
};

export interface RevisionSummary {
  title: string;
  /** "by the agent", "by you", "restored from revision 3". */
  origin: string;
  /** "Changed: Problem statement, Goals", or null when the server did not say. */
  changed: string | null;
  when: string;
  whenFull: string;
}

export function describeRevision(r: RevisionInfo, sectionTitles: ReadonlyMap<string, string>, now: number = Date.now()): RevisionSummary {
  const restored = typeof r.restored_from === 'number' ? r.restored_from : null;
  const origin =
    restored !== null ? `restored from revision ${restored}` : r.author === 'ai' ? 'by the agent' : r.author === 'user' ? 'by you' : `by ${r.author}`;
  return {
    title: `Revision ${r.revision}`,
    origin,
    changed: changedText(r, sectionTitles),
    when: relativeTime(r.created_at, now),
    whenFull: fullTime(r.created_at),
  };
}

function changedText(r: RevisionInfo, titles: ReadonlyMap<string, string>): string | null {
  if (!Array.isArray(r.changed_sections)) return null;
  if (r.changed_sections.length === 0) return r.revision === 1 ? null : 'No section changed';
  const names = r.changed_sections.map((id) => titles.get(id) ?? id);
  const shown = names.slice(0, 4);
  const more = names.length - shown.length;
  return `Changed: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}
