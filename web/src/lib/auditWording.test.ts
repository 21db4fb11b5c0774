import { describe, expect, it } from 'vitest';
import { actionWording, actorWording, KNOWN_ACTIONS } from './auditWording';

describe('the access log in people’s words', () => {
  it('names who acted', () => {
    expect(actorWording('user')).toBe('You');
    expect(actorWording('admin')).toBe('An administrator');
    expect(actorWording('system')).toBe('Plansmith');
    expect(actorWording('robot')).toBe('robot');
  });

  it('says what was done', () => {
    expect(actionWording('sessions.read', '0190b6a5-0000-7000-8000-000000000001')).toBe('Viewed a planning session');
    expect(actionWording('sessions.documents.sections.update')).toBe('Edited a document section');
    expect(actionWording('sessions.replies.write')).toBe('The planning agent wrote a reply');
    expect(actionWording('admin.users.update')).toBe('An administrator changed your account');
    expect(actionWording('me.export.read')).toBe('Downloaded your data');
  });

  it('a read of the sessions without one named is the list of them', () => {
    expect(actionWording('sessions.read')).toBe('Viewed your list of planning sessions');
    expect(actionWording('sessions.read', null)).toBe('Viewed your list of planning sessions');
  });

  it('an action it does not know keeps its name, even one named like an object property', () => {
    expect(actionWording('sessions.teleport.create')).toBe('sessions.teleport.create');
    expect(actionWording('constructor')).toBe('constructor');
    expect(actionWording('__proto__')).toBe('__proto__');
    expect(actorWording('toString')).toBe('toString');
  });

  it('every wording is a sentence start, and every known action is route-shaped', () => {
    for (const action of KNOWN_ACTIONS) {
      expect(action).toMatch(/^[a-z-]+(\.[a-z-]+)+$/);
      expect(actionWording(action, 'x')).toMatch(/^[A-Z]/);
    }
  });
});
