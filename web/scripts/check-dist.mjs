// Fails when the production build (web/dist, what the release binary embeds) contains code that
// must only exist in the end-to-end build (the `window.__plansmith` test hooks), or when a
// precompressed copy (.br, .gz, which the server prefers) differs from its file.
//
//   node scripts/check-dist.mjs   (npm run check:dist, after npm run build)

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
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
// A copy compressed before the bundler finished the file would be served instead of it.
for (const f of files) {
  const original = readFileSync(join(dist, f));
  for (const [ext, inflate] of [['.br', brotliDecompressSync], ['.gz', gunzipSync]]) {
    const copy = join(dist, f + ext);
    if (existsSync(copy) && !inflate(readFileSync(copy)).equals(original)) found.push(`web/dist/${f}${ext} is not a copy of web/dist/${f}`);
  }
}
if (found.length > 0) {
  console.error(found.join('\n'));
  console.error('check-dist: the production build is not fit to ship: test hooks belong only in `npm run build:e2e`, and compressed copies must match their files');
  process.exit(1);
}
console.log(`check-dist: no test hooks in the production build, compressed copies match (${files.length} files)`);
