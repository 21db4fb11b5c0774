import { describe, expect, it } from 'vitest';
import type { Revision } from '../api/types';
import { describeRevision } from './revisions';

const titles = new Map([
  ['problem', 'Problem statement'],
  ['goals', 'Goals & success metrics'],
  ['users', 'Target users'],
  ['risks', 'Risks'],
  ['mvp', 'MVP scope'],
]);
const now = Date.parse('2026-03-10T12:00:00Z');
const base: Revision = { revision: 4, author: 'user', content_hash: 'x', created_at: '2026-03-10T11:55:00Z', restored_from: null, changed_sections: ['problem'] };

describe('describeRevision', () => {
  it('names the author, what changed and a relative time', () => {
    const d = describeRevision(base, titles, now);
    expect(d).toMatchObject({ title: 'Revision 4', origin: 'by you', changed: 'Changed: Problem statement', when: '5 minutes ago' });
    expect(describeRevision({ ...base, author: 'ai' }, titles, now).origin).toBe('by the agent');
  });

  it('says which revision a restore brought back instead of "by you"', () => {
    expect(describeRevision({ ...base, restored_from: 2 }, titles, now).origin).toBe('restored from revision 2');
    expect(describeRevision({ ...base, restored_from: null }, titles, now).origin).toBe('by you');
  });

  it('lists the changed sections by title, unknown ids as they are, and shortens long lists', () => {
    expect(describeRevision({ ...base, changed_sections: ['goals', 'problem'] }, titles, now).changed).toBe(
      'Changed: Goals & success metrics, Problem statement',
    );
    expect(describeRevision({ ...base, changed_sections: ['gone'] }, titles, now).changed).toBe('Changed: gone');
    expect(describeRevision({ ...base, changed_sections: ['problem', 'goals', 'users', 'risks', 'mvp', 'gone'] }, titles, now).changed).toBe(
      'Changed: Problem statement, Goals & success metrics, Target users, Risks and 2 more',
    );
  });

  it('says when nothing changed, except for the first revision', () => {
    expect(describeRevision({ ...base, changed_sections: [] }, titles, now).changed).toBe('No section changed');
    expect(describeRevision({ ...base, revision: 1, changed_sections: [] }, titles, now).changed).toBeNull();
  });

  it('says what the first revision wrote (it has no revision before it to differ from)', () => {
    expect(describeRevision({ ...base, revision: 1, changed_sections: ['problem', 'goals'] }, titles, now).changed).toBe(
      'Wrote: Problem statement, Goals & success metrics',
    );
  });
});
