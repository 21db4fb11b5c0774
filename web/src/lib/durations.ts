// Times as people say them: "about 15 minutes", "3 hours ago".

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A wait as a person would say it: "a few seconds", "about 40 seconds", "about 15 minutes". */
export function humanDuration(ms: number): string {
  if (ms < 10_000) return 'a few seconds';
  if (ms < 55_000) return `about ${Math.round(ms / 10_000) * 10} seconds`;
  if (ms < 90_000) return 'about a minute';
  if (ms < 55 * MINUTE) return `about ${plural(Math.round(ms / MINUTE), 'minute')}`;
  if (ms < 90 * MINUTE) return 'about an hour';
  if (ms < 22 * HOUR) return `about ${plural(Math.round(ms / HOUR), 'hour')}`;
  if (ms < 36 * HOUR) return 'about a day';
  return `about ${plural(Math.round(ms / DAY), 'day')}`;
}

/** "just now", "5 minutes ago", "yesterday", "3 days ago", then the date. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const then = new Date(iso).getTime();
  if (!Number.isFinite(then)) return '';
  const ago = now - then;
  if (ago < 45_000) return 'just now';
  if (ago < 90_000) return 'a minute ago';
  if (ago < HOUR) return `${plural(Math.round(ago / MINUTE), 'minute')} ago`;
  if (ago < 1.5 * HOUR) return 'an hour ago';
  if (ago < DAY) return `${plural(Math.round(ago / HOUR), 'hour')} ago`;
  if (ago < 2 * DAY) return 'yesterday';
  if (ago < 7 * DAY) return `${plural(Math.floor(ago / DAY), 'day')} ago`;
  return new Date(then).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

/** The full local date and time, for a tooltip or a `<time>` title. */
export function fullTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
