// Measures the JavaScript the browser must load before the first render (the entry chunk and
// the chunks it imports statically, as linked from dist/index.html), gzipped, and fails when
// it exceeds the budget. Usage: node scripts/size.mjs [--budget-kb 150]
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const budgetArg = process.argv.indexOf('--budget-kb');
const budgetKb = budgetArg > 0 ? Number(process.argv[budgetArg + 1]) : 150;

const html = readFileSync(join(dist, 'index.html'), 'utf8');
const initial = new Set();
for (const m of html.matchAll(/<script[^>]+src="([^"]+\.js)"/g)) initial.add(m[1]);
for (const m of html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+\.js)"/g)) initial.add(m[1]);

let total = 0;
const rows = [];
for (const src of initial) {
  const data = readFileSync(join(dist, src.replace(/^\//, '')));
  const gz = gzipSync(data, { level: 9 }).length;
  total += gz;
  rows.push(`  ${src}  ${(data.length / 1024).toFixed(1)} KB raw, ${(gz / 1024).toFixed(1)} KB gzipped`);
}
// The admin console is for a few people, the Plans page for few visits: each must stay a chunk
// of its own, loaded on demand.
const lazyOnly = [...initial].filter((src) => /\/(AdminConsole|PlansPage)-/.test(src));
if (lazyOnly.length > 0) {
  console.error(`size: a page meant to load on demand is loaded up front (${lazyOnly.join(', ')}); keep it a lazy chunk`);
  process.exit(1);
}
if (initial.size === 0) {
  console.error('size: no script found in dist/index.html; run `npm run build` first');
  process.exit(1);
}
const kb = total / 1024;
console.log(`Initial JavaScript (gzipped): ${kb.toFixed(1)} KB of ${budgetKb} KB budget`);
console.log(rows.join('\n'));
if (kb > budgetKb) {
  console.error(`size: initial JavaScript is ${kb.toFixed(1)} KB gzipped, over the ${budgetKb} KB budget`);
  process.exit(1);
}
