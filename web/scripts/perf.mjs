// Measures page load of the built app in Chromium against the real plansmith binary: largest
// contentful paint (LCP) and the load event, cold (fresh browser context: empty HTTP cache, no
// service worker) and warm (same context again: HTTP cache and service worker in place), on
// loopback and on a simulated slow 4G link with a 4x slower CPU.
//
//   npm run build && PLANSMITH_BIN=/path/to/plansmith node scripts/perf.mjs [--runs 5]
//
// Options: --url URL measures a server that is already running (scripts/bench-page-load runs
// it under the session benchmark's load) instead of starting one; --profiles loopback picks
// network profiles by name (comma-separated); --pages session picks pages the same way;
// --json FILE also writes every run and the p50/p95 of each figure. Each run also reads the
// app's own Web Vitals (the LCP, FCP and TTFB the page reports to /api/v1/rum once the user
// interacts).
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, isAbsolute } from 'node:path';
import { createInterface } from 'node:readline';

const webDir = new URL('..', import.meta.url).pathname;
const repo = resolve(webDir, '..');
const option = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(option('--runs') ?? 5);
const URL_GIVEN = option('--url');
const ONLY_PROFILES = option('--profiles')?.split(',');
const ONLY_PAGES = option('--pages')?.split(',');
const JSON_OUT = option('--json');
const binEnv = process.env.PLANSMITH_BIN;
const bin = binEnv ? (isAbsolute(binEnv) ? binEnv : resolve(repo, binEnv)) : resolve(repo, process.env.CARGO_TARGET_DIR ?? 'target', 'debug', 'plansmith');

const PROFILES = {
  loopback: null,
  'slow 4G, 4x CPU': { latency: 150, downloadThroughput: (1.6 * 1024 * 1024) / 8, uploadThroughput: (750 * 1024) / 8, cpu: 4 },
};

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'plansmith-perf-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'PLANSMITH_BIN'));
  const child = spawn(bin, ['serve'], {
    cwd: repo,
    env: {
      ...env,
      PLANSMITH_LISTEN: '127.0.0.1:0',
      PLANSMITH_DATABASE_URL: `sqlite://${join(dir, 'db.sqlite')}`,
      PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND: '2000',
      PLANSMITH_LOG__LEVEL: 'warn',
      PLANSMITH_HTTP__WEB_DIR: join(webDir, 'dist'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((ok, fail) => {
    child.once('exit', (c) => fail(new Error(`plansmith exited with ${c}`)));
    createInterface({ input: child.stdout }).on('line', (l) => {
      const m = /running at (http:\/\/\S+)/.exec(l);
      if (m) ok(m[1].replace(/\/$/, ''));
    });
  });
  return { url, stop: () => { child.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); } };
}

async function measure(page, url, waitFor) {
  await page.goto(url, { waitUntil: 'load' });
  await page
    .locator(waitFor)
    .first()
    .waitFor()
    .catch(async (e) => {
      const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 2000);
      throw new Error(`${url}: ${waitFor} never showed; the page said:\n${text}\n${e.message}`);
    });
  await page.waitForTimeout(300);
  const figures = await page.evaluate(
    () =>
      new Promise((done) => {
        new PerformanceObserver((list) => {
          const entries = list.getEntries();
          const nav = performance.getEntriesByType('navigation')[0];
          const fcp = performance.getEntriesByName('first-contentful-paint')[0];
          done({
            lcp: entries[entries.length - 1].startTime,
            lcpElement: (() => {
              const el = entries[entries.length - 1].element;
              return el ? `${el.tagName.toLowerCase()}.${el.className}` : '';
            })(),
            load: nav.loadEventEnd,
            ttfb: nav.responseStart,
            fcp: fcp ? fcp.startTime : NaN,
            transferred: performance.getEntriesByType('resource').reduce((n, r) => n + (r.transferSize || 0), nav.transferSize || 0),
          });
        }).observe({ type: 'largest-contentful-paint', buffered: true });
      }),
  );
  // The app's own report: LCP is final at the first interaction, when the app sends it.
  const rum = page
    .waitForRequest((r) => r.url().endsWith('/api/v1/rum') && r.method() === 'POST', { timeout: 5000 })
    .then((r) => JSON.parse(r.postData() ?? '[]'))
    .catch(() => []);
  await page.keyboard.press('Shift');
  const reported = Object.fromEntries((await rum).map((m) => [m.name, m.value]));
  return { ...figures, appLcp: reported.LCP ?? NaN };
}

async function throttle(context, page, profile) {
  if (!profile) return;
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: profile.latency, downloadThroughput: profile.downloadThroughput, uploadThroughput: profile.uploadThroughput });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: profile.cpu });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
/** Nearest-rank percentile. */
const percentile = (xs, p) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};

const server = URL_GIVEN ? { url: URL_GIVEN.replace(/\/$/, ''), stop: () => {} } : await startServer();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // One account with a session whose first document is fully drafted.
  const setup = await browser.newContext({ baseURL: server.url });
  const email = `perf-${Date.now()}@example.com`;
  await setup.request.post('/api/v1/auth/register', { data: { email, password: 'correct horse battery' } });
  const session = await (await setup.request.post('/api/v1/sessions', { data: { workflow_id: 'product-plan', title: 'Perf Plan', idea: 'Families share recipes and plan weekly meals.' } })).json();
  await setup.request.post(`/api/v1/sessions/${session.id}/messages`, { data: { content: 'draft the rest' } });
  for (let i = 0; i < 120; i++) {
    const items = (await (await setup.request.get(`/api/v1/sessions/${session.id}/messages`)).json()).items;
    if (items.length >= 3 && items.every((m) => m.status === 'complete' || m.role === 'user')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  // Whatever the provider wrote (a mock under load may write no sections), the first section
  // has content, as a user's edit.
  const docs = (await (await setup.request.get(`/api/v1/sessions/${session.id}/documents`)).json()).items;
  const doc = (await (await setup.request.get(`/api/v1/sessions/${session.id}/documents/${docs[0].id}`)).json());
  const first = doc.sections[0];
  if (!first.content) {
    const edited = await setup.request.put(`/api/v1/sessions/${session.id}/documents/${doc.id}/sections/${first.id}`, {
      data: { content: 'Families share recipes and plan weekly meals together.\n\n- shared recipe box\n- weekly plan', base_revision: doc.revision },
    });
    if (!edited.ok()) throw new Error(`could not write a section: ${edited.status()} ${await edited.text()}`);
  }
  const storage = await setup.storageState();
  await setup.close();

  const pages = [
    { name: 'session page', path: `/sessions/${session.id}`, waitFor: '[data-testid=doc-section] .markdown' },
    { name: 'sign-in page', path: '/signin', waitFor: 'form', anonymous: true },
  ];
  const rows = [];
  const runs = [];
  for (const [profileName, profile] of Object.entries(PROFILES)) {
    if (ONLY_PROFILES && !ONLY_PROFILES.some((p) => profileName.startsWith(p))) continue;
    for (const target of pages) {
      if (ONLY_PAGES && !ONLY_PAGES.some((p) => target.name.startsWith(p))) continue;
      const cold = [];
      const warm = [];
      for (let i = 0; i < RUNS; i++) {
        const context = await browser.newContext({ baseURL: server.url, storageState: target.anonymous ? undefined : storage });
        const first = await context.newPage();
        await throttle(context, first, profile);
        cold.push(await measure(first, target.path, target.waitFor));
        await first.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
        await first.close();
        const second = await context.newPage();
        await throttle(context, second, profile);
        warm.push(await measure(second, target.path, target.waitFor));
        await context.close();
      }
      for (const [cache, xs] of [['cold', cold], ['warm', warm]]) {
        runs.push({
          profile: profileName,
          page: target.name,
          cache,
          runs: xs,
          p50: { lcp: percentile(xs.map((x) => x.lcp), 50), appLcp: percentile(xs.map((x) => x.appLcp), 50), load: percentile(xs.map((x) => x.load), 50) },
          p95: { lcp: percentile(xs.map((x) => x.lcp), 95), appLcp: percentile(xs.map((x) => x.appLcp), 95), load: percentile(xs.map((x) => x.load), 95) },
        });
        rows.push({
          profile: profileName,
          page: target.name,
          cache,
          'LCP ms': Math.round(median(xs.map((x) => x.lcp))),
          'load ms': Math.round(median(xs.map((x) => x.load))),
          'TTFB ms': Math.round(median(xs.map((x) => x.ttfb))),
          'FCP ms': Math.round(median(xs.map((x) => x.fcp))),
          'KB transferred': Math.round(median(xs.map((x) => x.transferred)) / 1024),
        });
      }
    }
  }
  console.log(`Median of ${RUNS} runs each; Chromium ${browser.version()}; server ${URL_GIVEN ? server.url : bin}`);
  console.log('| network | page | cache | LCP ms | load ms | TTFB ms | FCP ms | KB transferred |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.profile} | ${r.page} | ${r.cache} | ${r['LCP ms']} | ${r['load ms']} | ${r['TTFB ms']} | ${r['FCP ms']} | ${r['KB transferred']} |`);
  console.log('');
  console.log('| network | page | cache | LCP p50 ms | LCP p95 ms | app-reported LCP p50 ms | app-reported LCP p95 ms |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of runs) console.log(`| ${r.profile} | ${r.page} | ${r.cache} | ${Math.round(r.p50.lcp)} | ${Math.round(r.p95.lcp)} | ${Math.round(r.p50.appLcp)} | ${Math.round(r.p95.appLcp)} |`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ chromium: browser.version(), url: server.url, runsPerCache: RUNS, results: runs }, null, 2));
} finally {
  await browser.close();
  server.stop();
}
