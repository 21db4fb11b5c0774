import { describe, expect, it } from 'vitest';
import type { PlanDocument, Session } from '../api/types';
import { asksToDraftTheRest, emptySections, liveFilled } from './drafting';

const doc = {
  id: 'd',
  title: 'Project brief',
  step_id: 'brief',
  revision: 2,
  content_hash: '',
  created_at: '',
  sections: [
    { id: 'a', title: 'A', content: 'written' },
    { id: 'b', title: 'B', content: '' },
    { id: 'c', title: 'C', content: '  \n' },
  ],
} satisfies PlanDocument;
const session = { sections_filled: 1, sections_total: 3 } as Session;

describe('drafting the rest', () => {
  it('knows the request in any case and wording around it', () => {
    expect(asksToDraftTheRest('Please Draft the rest now')).toBe(true);
    expect(asksToDraftTheRest('draft the summary')).toBe(false);
  });
  it('finds the sections still empty (blank counts as empty)', () => {
    expect(emptySections(doc).map((s) => s.id)).toEqual(['b', 'c']);
  });
  it('counts drafts arriving now as written, never past the total', () => {
    expect(liveFilled(session, doc, new Map())).toBe(1);
    expect(liveFilled(session, doc, new Map([['b', 'draft text']]))).toBe(2);
    expect(liveFilled(session, doc, new Map([['a', 'x'], ['b', 'y'], ['c', 'z']]))).toBe(3);
    expect(liveFilled(session, doc, new Map([['b', '   ']]))).toBe(1);
    expect(liveFilled(session, undefined, new Map([['b', 'x']]))).toBe(1);
  });
});
