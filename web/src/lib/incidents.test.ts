import { describe, expect, it } from 'vitest';
import { bySeverity, isUrgent, parseUserIds, severityName } from './incidents';

const A = '0190b6a5-1c2d-7e3f-8a9b-0c1d2e3f4a5b';
const B = '0190b6a5-aaaa-7bbb-8ccc-dddddddddddd';

describe('incident notices', () => {
  it('names the severities; the two most severe interrupt', () => {
    expect(['sev1', 'sev2', 'sev3', 'sev4', 'sev9'].map(severityName)).toEqual(['Critical', 'Major', 'Minor', 'Notice', 'sev9']);
    expect(['sev1', 'sev2', 'sev3', 'sev4'].map(isUrgent)).toEqual([true, true, false, false]);
  });

  it('orders the most severe first, keeping the order of notices of one severity', () => {
    const notices = [
      { severity: 'sev4', title: 'a' },
      { severity: 'sev1', title: 'b' },
      { severity: 'sev9', title: 'c' },
      { severity: 'sev4', title: 'd' },
      { severity: 'sev2', title: 'e' },
    ];
    expect([...notices].sort(bySeverity).map((n) => n.title)).toEqual(['b', 'e', 'a', 'd', 'c']);
  });

  it('reads account ids one per line or separated by commas, each once, and names what is not one', () => {
    expect(parseUserIds(`${A}\n${B.toUpperCase()}, ${A}\r\n\n`)).toEqual({ ids: [A, B], invalid: [] });
    expect(parseUserIds(`${A},ada@example.com;0190b6a5`)).toEqual({ ids: [A], invalid: ['ada@example.com', '0190b6a5'] });
    expect(parseUserIds('  \n , ')).toEqual({ ids: [], invalid: [] });
  });
});
