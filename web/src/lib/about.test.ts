import { afterEach, describe, expect, it, vi } from 'vitest';
import type { About } from '../api/types';
import { about, DEFAULT_LIMITS, FALLBACK_SUPPORT_CONTACT, limitsOf, loadAbout, resetAbout, supportContact } from './about';
import { humanError } from './errors';

const answer: About = {
  version: '9.9.9',
  support_contact: 'help@example.org',
  offline_planner: false,
  limits: { title_chars: 40, idea_chars: 500, message_chars: 1000, section_chars: 2000 },
};

afterEach(() => resetAbout());

describe('about', () => {
  it('asks the server once per app load, however often it is asked for', async () => {
    const get = vi.fn(async () => ({ data: answer }));
    await Promise.all([loadAbout(get), loadAbout(get)]);
    await loadAbout(get);
    expect(get).toHaveBeenCalledTimes(1);
    expect(get).toHaveBeenCalledWith('/api/v1/about');
    expect(about.get()).toEqual(answer);
  });

  it("uses the installation's contact and limits once they are known", async () => {
    await loadAbout(async () => ({ data: answer }));
    expect(supportContact()).toBe('help@example.org');
    expect(limitsOf()).toEqual({ title: 40, idea: 500, message: 1000, section: 2000 });
    expect(humanError(new Error('boom')).hint).toContain('help@example.org');
  });

  it('keeps the defaults when the server cannot be reached and nothing is saved', async () => {
    await loadAbout(async () => Promise.reject(new TypeError('Failed to fetch')));
    expect(about.get()).toBeNull();
    expect(supportContact()).toBe(FALLBACK_SUPPORT_CONTACT);
    expect(limitsOf()).toEqual(DEFAULT_LIMITS);
    expect(humanError(new Error('boom')).hint).toContain(FALLBACK_SUPPORT_CONTACT);
  });

  it('falls back to the default contact when the installation left it blank', () => {
    expect(supportContact({ ...answer, support_contact: '  ' })).toBe(FALLBACK_SUPPORT_CONTACT);
  });
});
