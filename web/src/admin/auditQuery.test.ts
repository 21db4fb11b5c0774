import { describe, expect, it } from 'vitest';
import { paths } from '../api/paths';
import { auditQuery, localToRfc3339, NO_FILTERS } from './auditQuery';

const USER = '0190B6A5-1C2D-7E3F-8A9B-0C1D2E3F4A5B';
const SESSION = '0190b6a5-aaaa-7bbb-8ccc-dddddddddddd';

describe('audit filters → the query string', () => {
  it('times typed in local time become RFC 3339 in UTC, whatever the time zone', () => {
    expect(localToRfc3339('2026-03-01T08:30')).toBe(new Date(2026, 2, 1, 8, 30).toISOString().replace('.000Z', 'Z'));
    expect(localToRfc3339('2026-03-01T08:30:15')).toBe(new Date(2026, 2, 1, 8, 30, 15).toISOString().replace('.000Z', 'Z'));
    expect(localToRfc3339('2026-03-01T08:30:15.5')).toBe(new Date(2026, 2, 1, 8, 30, 15, 500).toISOString());
    expect(localToRfc3339('2026-03-01T08:30')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('what is not a date and time is refused', () => {
    for (const bad of ['', 'yesterday', '2026-03-01', '2026-02-31T10:00', '2026-13-01T10:00', '2026-03-01 08:30']) {
      expect(localToRfc3339(bad)).toBeNull();
    }
  });

  it('no filters: no query at all', () => {
    expect(auditQuery(NO_FILTERS)).toEqual({ query: {}, problems: {} });
    expect(paths.adminAudit({ ...auditQuery(NO_FILTERS).query, limit: 50 })).toBe('/api/v1/admin/audit?limit=50');
  });

  it('every filter given: trimmed, ids in lower case, times in UTC, in the query string', () => {
    const { query, problems } = auditQuery({
      user: ` ${USER} `,
      session: SESSION,
      action: ' sessions.read ',
      from: '2026-03-01T00:00',
      to: '2026-03-02T00:00',
    });
    expect(problems).toEqual({});
    const from = localToRfc3339('2026-03-01T00:00')!;
    const to = localToRfc3339('2026-03-02T00:00')!;
    expect(query).toEqual({ user: USER.toLowerCase(), session: SESSION, action: 'sessions.read', from, to });
    const url = new URL(paths.adminAudit({ ...query, limit: 50 }), 'http://x');
    expect(url.pathname).toBe('/api/v1/admin/audit');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      user: USER.toLowerCase(),
      session: SESSION,
      action: 'sessions.read',
      from,
      to,
      limit: '50',
    });
    // The `:` of the times is encoded, so the server reads them whole.
    expect(paths.adminAudit({ from })).toContain(`from=${encodeURIComponent(from)}`);
  });

  it('an id that is not one is said under its field, and left out of the query', () => {
    const { query, problems } = auditQuery({ ...NO_FILTERS, user: '0190b6a5', session: SESSION, action: 'me.read' });
    expect(query).toEqual({ session: SESSION, action: 'me.read' });
    expect(problems.user).toMatch(/not an account id/);
    expect(problems.session).toBeUndefined();
  });

  it('a range in the wrong order is left to the server to refuse (it names the field)', () => {
    const { query, problems } = auditQuery({ ...NO_FILTERS, from: '2026-03-02T00:00', to: '2026-03-01T00:00' });
    expect(problems).toEqual({});
    expect(query.from! > query.to!).toBe(true);
  });
});
