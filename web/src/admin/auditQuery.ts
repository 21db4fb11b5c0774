// The audit page's filters as the API takes them (the query of `paths.adminAudit`: user,
// session, action, from, to): ids checked before asking, times typed in the admin's own time
// zone (`<input type="datetime-local">`) sent as RFC 3339 in UTC.

import { isUuid } from '../lib/ids';

/** What the filter fields hold, as typed. */
export interface AuditFilters {
  user: string;
  session: string;
  action: string;
  /** `YYYY-MM-DDTHH:mm` (or with seconds), local time; empty for no bound. */
  from: string;
  to: string;
}

export const NO_FILTERS: AuditFilters = { user: '', session: '', action: '', from: '', to: '' };

/** The query the API takes; only the filters given. */
export interface AuditQuery {
  user?: string;
  session?: string;
  action?: string;
  from?: string;
  to?: string;
}

export type FilterProblems = Partial<Record<keyof AuditFilters, string>>;

/** A `datetime-local` value (local time) as RFC 3339 in UTC ("2026-03-01T08:30:00Z"); null when
 * it is not a date and time. */
export function localToRfc3339(value: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(value.trim());
  if (!m) return null;
  const [year, month, day, hour, minute, second = '0', ms = '0'] = m.slice(1);
  const date = new Date(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), Number(ms.padEnd(3, '0')));
  // new Date rolls 2026-02-31 over into March: such a date was not a date.
  if (Number.isNaN(date.getTime()) || date.getDate() !== Number(day) || date.getMonth() !== Number(month) - 1) return null;
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

/** The filters as a query, or what is wrong with them. The order of the range is left to the
 * server, which names the field it refuses (`error.field`). */
export function auditQuery(filters: AuditFilters): { query: AuditQuery; problems: FilterProblems } {
  const query: AuditQuery = {};
  const problems: FilterProblems = {};
  for (const key of ['user', 'session'] as const) {
    const id = filters[key].trim();
    if (!id) continue;
    if (isUuid(id)) query[key] = id.toLowerCase();
    else problems[key] = `That is not ${key === 'user' ? 'an account' : 'a session'} id: paste the whole id, like 0190b6a5-1c2d-7e3f-8a9b-0c1d2e3f4a5b.`;
  }
  const action = filters.action.trim();
  if (action) query.action = action;
  for (const key of ['from', 'to'] as const) {
    if (!filters[key].trim()) continue;
    const at = localToRfc3339(filters[key]);
    if (at) query[key] = at;
    else problems[key] = 'Give a date and a time.';
  }
  return { query, problems };
}
