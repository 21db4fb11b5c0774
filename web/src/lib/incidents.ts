// Incident notices as people read them, and the admin's list of affected accounts as the API
// takes it.

import { SEVERITIES, type Severity } from '../api/incidents';
import { isUuid } from './ids';

const SEVERITY_NAMES: Record<Severity, string> = {
  sev1: 'Critical',
  sev2: 'Major',
  sev3: 'Minor',
  sev4: 'Notice',
};

/** What each severity means, for whoever publishes a notice. */
export const SEVERITY_HELP: Record<Severity, string> = {
  sev1: 'Plansmith is down or data is at risk',
  sev2: 'a main feature fails for many people',
  sev3: 'something is degraded, with a way around it',
  sev4: 'for information: maintenance, a fixed problem',
};

export function isSeverity(value: string): value is Severity {
  return Object.hasOwn(SEVERITY_NAMES, value);
}

/** `sev1` → "Critical"; an unknown severity keeps its name. */
export function severityName(severity: string): string {
  return isSeverity(severity) ? SEVERITY_NAMES[severity] : severity;
}

/** The two most severe interrupt (role="alert"); the others wait their turn (role="status"). */
export function isUrgent(severity: string): boolean {
  return severity === 'sev1' || severity === 'sev2';
}

/** For sorting: the most severe first; an unknown severity after the known ones. Stable, so
 * notices of one severity keep their order (the server's: newest first). */
export function bySeverity(a: { severity: string }, b: { severity: string }): number {
  const rank = (s: string) => {
    const i = (SEVERITIES as readonly string[]).indexOf(s);
    return i < 0 ? SEVERITIES.length : i;
  };
  return rank(a.severity) - rank(b.severity);
}

/** Account ids typed or pasted one per line or separated by commas (spaces and semicolons too),
 * each once, in the order given; `invalid` holds whatever is not an id. */
export function parseUserIds(text: string): { ids: string[]; invalid: string[] } {
  const ids: string[] = [];
  const invalid: string[] = [];
  for (const part of text.split(/[\s,;]+/)) {
    if (!part) continue;
    const id = part.toLowerCase();
    if (!isUuid(id)) invalid.push(part);
    else if (!ids.includes(id)) ids.push(id);
  }
  return { ids, invalid };
}
