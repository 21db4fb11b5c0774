import { describe, expect, it } from 'vitest';
import { humanDuration, relativeTime } from './durations';

describe('humanDuration', () => {
  it('says waits as a person would', () => {
    expect(humanDuration(3_000)).toBe('a few seconds');
    expect(humanDuration(31_000)).toBe('about 30 seconds');
    expect(humanDuration(65_000)).toBe('about a minute');
    expect(humanDuration(895_000)).toBe('about 15 minutes');
    expect(humanDuration(2 * 3600_000 + 10 * 60_000)).toBe('about 2 hours');
    expect(humanDuration(3 * 86400_000)).toBe('about 3 days');
  });
});

describe('relativeTime', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  it('counts back from now', () => {
    expect(relativeTime('2026-03-10T11:59:50Z', now)).toBe('just now');
    expect(relativeTime('2026-03-10T11:55:00Z', now)).toBe('5 minutes ago');
    expect(relativeTime('2026-03-10T09:00:00Z', now)).toBe('3 hours ago');
    expect(relativeTime('2026-03-09T09:00:00Z', now)).toBe('yesterday');
    expect(relativeTime('2026-03-06T12:00:00Z', now)).toBe('4 days ago');
  });
  it('gives the date for anything older than a week, and nothing for a bad date', () => {
    expect(relativeTime('2025-12-01T12:00:00Z', now)).toMatch(/2025/);
    expect(relativeTime('not a date', now)).toBe('');
  });
});
