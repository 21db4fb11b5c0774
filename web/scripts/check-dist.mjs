// Fails when the production build (web/dist, what the release binary embeds) contains code that
// must only exist in the end-to-end build: the `window.__plansmith` test hooks.
//
//   node scripts/check-dist.mjs   (npm run check:dist, after npm run build)

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const FORBIDDEN = ['__plansmith'];

let files;
try {
  // The .br/.gz files are compressed copies of these: checking the originals covers them.
  files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(js|html|css|json|webmanifest)$/.test(f));
} catch {
  files = [];
}
if (!files.some((f) => f.endsWith('.js'))) {
  console.error('check-dist: no JavaScript in web/dist; run `npm run build` first');
  process.exit(1);
}
const found = files.flatMap((f) => {
  const text = readFileSync(join(dist, f), 'utf8');
  return FORBIDDEN.filter((s) => text.includes(s)).map((s) => `web/dist/${f} contains ${s}`);
});
if (found.length > 0) {
  console.error(found.join('\n'));
  console.error('check-dist: the production build contains end-to-end test hooks; they belong only in `npm run build:e2e`');
  process.exit(1);
}
console.log(`check-dist: no test hooks in the production build (${files.length} files)`);
