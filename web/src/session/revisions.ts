// How a revision is described in the history: who made it, what it restored, what it changed.

import type { Revision } from '../api/types';
import { fullTime, relativeTime } from '../lib/durations';

export interface RevisionSummary {
  title: string;
  /** "by the agent", "by you", "restored from revision 3". */
  origin: string;
  /** "Changed: Problem statement, Goals"; for the first revision "Wrote: …"; null when it wrote nothing. */
  changed: string | null;
  when: string;
  whenFull: string;
}

export function describeRevision(r: Revision, sectionTitles: ReadonlyMap<string, string>, now: number = Date.now()): RevisionSummary {
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

// `changed_sections` compares with the revision before; the first one has none before it, so
// its list is what it wrote.
function changedText(r: Revision, titles: ReadonlyMap<string, string>): string | null {
  const first = r.revision === 1;
  // A copy saved on this device from an older server may not have the list.
  const ids = r.changed_sections ?? [];
  if (ids.length === 0) return first ? null : 'No section changed';
  const names = ids.map((id) => titles.get(id) ?? id);
  const shown = names.slice(0, 4);
  const more = names.length - shown.length;
  return `${first ? 'Wrote' : 'Changed'}: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}
