import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { paths } from './paths';

describe('paths', () => {
  it('encodes path parameters and adds only the query values given', () => {
    expect(paths.session('a/b?c')).toBe('/api/v1/sessions/a%2Fb%3Fc');
    expect(paths.section('s', 'd 1', 'goals#2')).toBe('/api/v1/sessions/s/documents/d%201/sections/goals%232');
    expect(paths.sessions({ limit: 20 })).toBe('/api/v1/sessions?limit=20');
    expect(paths.sessions({ limit: 20, cursor: 'x=&y' })).toBe('/api/v1/sessions?limit=20&cursor=x%3D%26y');
    expect(paths.document('s', 'd')).toBe('/api/v1/sessions/s/documents/d');
    expect(paths.document('s', 'd', 3)).toBe('/api/v1/sessions/s/documents/d?revision=3');
    expect(paths.replyStream('s', 'r')).toBe('/api/v1/sessions/s/replies/r/stream');
    expect(paths.evaluateFlags()).toBe('/ofrep/v1/evaluate/flags');
  });
});

const src = fileURLToPath(new URL('..', import.meta.url));

/** Every file under src/ (Node 20 has no fs.glob; a recursive listing does the same). */
function sourceFiles(): string[] {
  return readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|tsx|js|jsx|mjs)$/.test(name))
    .map((name) => join(src, name));
}

it('no source outside src/api spells an API address (they are built in src/api/paths.ts)', () => {
  const files = sourceFiles();
  expect(files.length).toBeGreaterThan(20);
  const offenders = files
    .map((file) => relative(src, file).split('\\').join('/'))
    .filter((name) => !name.startsWith('api/') && !/\.test\.tsx?$/.test(name))
    .filter((name) => /\/(api|ofrep)\/v1/.test(readFileSync(join(src, name), 'utf8')));
  expect(offenders).toEqual([]);
});
