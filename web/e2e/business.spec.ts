import AxeBuilder from '@axe-core/playwright';
import { readFile } from 'node:fs/promises';
import type { Browser, Locator, Page } from '@playwright/test';
import { createSession, expect, giveConsent, test, uniqueEmail, waitForReplies } from './fixtures';
import { operatorCommand, setRole } from './server';

async function expectNoAxeViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

/** The distinct colours of a screenshot, counted in a blank page of the browser (no CSP). */
async function colours(browser: Browser, png: Buffer): Promise<{ distinct: number; has: (hex: string) => boolean }> {
  const probe = await browser.newPage();
  const list = await probe.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set<string>();
    for (let i = 0; i < data.length; i += 4) seen.add(((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]).toString(16).padStart(6, '0'));
    return [...seen];
  }, png.toString('base64'));
  await probe.close();
  const set = new Set(list);
  return { distinct: set.size, has: (hex) => set.has(hex.replace('#', '').toLowerCase()) };
}

/** A chart: an image with a text summary, drawn (rects or paths of non-zero size) and not blank. */
async function expectChartDrawn(browser: Browser, chart: Locator, colour?: string) {
  await expect(chart).toBeVisible();
  const drawn = await chart.evaluate((svg) =>
    Array.from(svg.querySelectorAll('rect, path')).filter((el) => {
      const box = (el as SVGGraphicsElement).getBBox();
      return box.width > 0 && box.height > 0;
    }).length,
  );
  expect(drawn).toBeGreaterThan(0);
  const shot = await chart.screenshot();
  expect(shot).toBeTruthy();
  const c = await colours(browser, shot);
  expect(c.distinct).toBeGreaterThan(8);
  if (colour) expect(c.has(colour)).toBe(true);
}

const SYMBOL: Record<string, string> = { usd: '$', eur: '€', gbp: '£' };

test('the Business page: KPIs, charts with the forecast and its error, filters that refetch, CSV downloads', async ({
  page,
  server,
  request,
  browser,
}, testInfo) => {
  test.setTimeout(180_000);
  // Fourteen months of subscriptions (USD, EUR and GBP) in the worker's database, as an operator
  // fills a fresh install: `plansmith demo-data`. Another seed for each repeat of the test (the
  // same seed twice on one database is refused).
  const seed = 1000 + testInfo.repeatEachIndex * 10 + testInfo.retry;
  const demo = await operatorCommand(server, ['demo-data', '--users', '300', '--months', '14', '--seed', String(seed)]);
  expect(`${demo.stdout}${demo.stderr}`).toContain(`demo data (seed ${seed})`);

  // An admin, who completes a plan, rates it and answers the survey (the funnel and quality).
  const email = uniqueEmail();
  const password = 'correct horse battery';
  expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email, password, name: 'Bea Business' } })).status()).toBe(201);
  await setRole(server, email, 'admin');
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  await giveConsent(page.request);
  const { id } = await createSession(page, { workflow_id: 'quick-brief', title: 'Dashboard Plan' });
  expect((await page.request.post(`/api/v1/sessions/${id}/messages`, { data: { content: 'draft the rest' } })).ok()).toBe(true);
  await waitForReplies(page, id, 3);
  expect((await page.request.post(`/api/v1/sessions/${id}/steps/brief/complete`)).ok()).toBe(true);
  const docs = (await (await page.request.get(`/api/v1/sessions/${id}/documents`)).json()).items as { id: string }[];
  expect((await page.request.put(`/api/v1/sessions/${id}/documents/${docs[0].id}/rating`, { data: { rating: 4, useful: true } })).ok()).toBe(true);
  expect((await page.request.put(`/api/v1/sessions/${id}/survey`, { data: { csat: 5, hours_without: 12 } })).ok()).toBe(true);

  // The page, from the console's navigation.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  const adminNav = page.getByRole('navigation', { name: 'Admin' });
  await adminNav.getByRole('link', { name: 'Business' }).click();
  await expect(page).toHaveURL(/\/admin\/business$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Business' })).toBeVisible();
  await expect(adminNav.getByRole('link', { name: 'Business' })).toHaveAttribute('aria-current', 'page');

  // KPI tiles, every one with a value.
  const tiles = page.getByTestId('kpi');
  await expect(tiles).toHaveCount(10);
  const tile = (kpi: string) => page.locator(`[data-testid=kpi][data-kpi=${kpi}] .kpi-value`);
  await expect(tile('mrr')).toHaveText(/^[$€£][\d,]+\.\d\d$/);
  await expect(tile('arr')).toHaveText(/^[$€£][\d,]+\.\d\d$/);
  await expect(tile('customers')).toHaveText(/^\d+$/);
  await expect(tile('churn')).toHaveText(/^[\d.]+%$/);
  await expect(tile('nrr')).toHaveText(/^[\d.]+%$/);
  await expect(tile('arpa')).toHaveText(/^[$€£][\d,]+\.\d\d$/);
  // At least the admin's plan (other specs of the worker may have completed some).
  await expect(tile('activation')).toHaveText(/^[1-9][\d,]*$/);
  await expect(tile('csat')).toHaveText(/^\d+ \/ 100$/);
  // MAU: at least the admin, active today; the demo's accounts come back week after week.
  await expect(tile('active-users')).toHaveText(/^[1-9][\d,]*$/);
  await expect(page.locator('[data-testid=kpi][data-kpi=active-users] .kpi-note')).toHaveText(/^Average DAU [\d.,]+ · stickiness (<0\.1|[\d.]+)%$/);
  await expect(page.locator('[data-testid=kpi][data-kpi=nrr]')).toContainText('1 − net MRR churn rate');
  await expect(page.locator('[data-testid=kpi][data-kpi=mrr] .kpi-note')).toContainText(/vs the end of/);
  for (const value of await tiles.locator('.kpi-value').allTextContents()) expect(value.trim()).not.toMatch(/^(|…|unavailable)$/);

  // The charts: images with a text summary, drawn, not blank.
  const currency = (await page.getByLabel('Currency').inputValue()).toLowerCase();
  const CUR = currency.toUpperCase();
  await expect(page.getByRole('heading', { level: 2, name: `Revenue (${CUR})` })).toBeVisible();
  await expectChartDrawn(browser, page.getByRole('img', { name: new RegExp(`^MRR movements in ${CUR}`) }), '#1d6b3a');
  const forecast = page.getByTestId('forecast');
  await expectChartDrawn(browser, forecast.getByRole('img', { name: /and its forecast for/ }));
  // Never a forecast without its measured error, right beside it.
  const backtest = forecast.getByTestId('backtest');
  await expect(backtest).toContainText(/MAPE\s*[\d.]+%/);
  await expect(backtest).toContainText(/MASE\s*[\d.]+/);
  await expect(backtest).toContainText(/80% coverage\s*[\d.]+%/);
  await expect(backtest).toContainText(/95% coverage\s*[\d.]+%/);
  await expectChartDrawn(browser, page.getByRole('img', { name: /^Net MRR retention of \d+ monthly cohorts/ }));
  await expectChartDrawn(browser, page.getByRole('img', { name: /^Activation funnel: / }));
  await expectChartDrawn(browser, page.getByRole('img', { name: /^Weekly retention of / }));
  await expectChartDrawn(browser, page.getByRole('img', { name: /^Average rating by workflow \(1–5\): \d+ entr(y|ies); highest / }));
  await expectChartDrawn(browser, page.getByRole('img', { name: /^Time to plan by sign-up month: / }));
  await expect(page.getByTestId('funnel-table')).toContainText('Plan completed');
  await expect(page.getByTestId('csat-table')).toContainText('quick-brief');

  // Product usage: events by distinct accounts (labelled "kind: name"), and the accounts active
  // each day of the range, both with their tables as CSV.
  await expect(page.getByRole('heading', { level: 2, name: 'Product usage' })).toBeVisible();
  const featureChart = page.getByRole('img', { name: /^Feature usage: distinct accounts per event( \(top 12\))?: \d+ entr(y|ies); highest [a-z_]+(: .+)? at [1-9]/ });
  await expectChartDrawn(browser, featureChart, '#1b5fb0');
  expect(await featureChart.locator('text.chart-label').allTextContents()).toContainEqual(expect.stringMatching(/^[a-z_]+: \S+$/));
  await expect(page.getByTestId('features-table').locator('tbody tr').filter({ hasText: 'session_started' }).filter({ hasText: 'quick-brief' })).toHaveCount(1);
  await expectChartDrawn(browser, page.getByRole('img', { name: /^Daily active accounts \(UTC days\): 90 entries; highest \d{4}-\d\d-\d\d at [1-9]/ }), '#1b5fb0');
  const toDay = await page.getByLabel('Last day').inputValue();
  const featuresFile = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV of Feature usage' }).click();
  const featuresDownload = await featuresFile;
  expect(featuresDownload.suggestedFilename()).toBe('feature-usage.csv');
  const featuresText = await readFile(await featuresDownload.path(), 'utf8');
  expect(featuresText.split('\r\n')[0]).toBe('Event,Name,Events,Accounts');
  expect(featuresText).toMatch(/\r\nsession_started,quick-brief,[1-9]\d*,[1-9]\d*\r\n/);
  const dailyFile = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV of Daily active accounts' }).click();
  const dailyDownload = await dailyFile;
  expect(dailyDownload.suggestedFilename()).toBe('daily-active-accounts.csv');
  const dailyLines = (await readFile(await dailyDownload.path(), 'utf8')).split('\r\n').filter(Boolean);
  expect(dailyLines[0]).toBe('Day,Active accounts');
  // Every day of the last 90, today (with the admin) last.
  expect(dailyLines).toHaveLength(91);
  expect(dailyLines.at(-1)).toMatch(new RegExp(`^${toDay},[1-9]\\d*$`));
  await expectNoAxeViolations(page);

  // Another currency: the forecast of that one is asked for, and the figures are in it.
  const options = await page.getByLabel('Currency').locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  expect(options.length).toBeGreaterThan(1);
  const other = options.find((o) => o !== currency)!;
  const askedForecast = page.waitForRequest((r) => r.url().includes('/api/v1/admin/analytics/forecast') && r.url().includes(`currency=${other}`));
  await page.getByLabel('Currency').selectOption(other);
  await askedForecast;
  const OTHER = other.toUpperCase();
  await expect(page.getByRole('heading', { level: 2, name: `Revenue (${OTHER})` })).toBeVisible();
  await expect(tile('mrr')).toContainText(SYMBOL[other] ?? OTHER);
  await expect(page.getByRole('img', { name: new RegExp(`^MRR movements in ${OTHER}`) })).toBeVisible();
  await expect(forecast.getByRole('img', { name: new RegExp(`^MRR in ${OTHER} over`) }).or(page.getByTestId('forecast-note'))).toBeVisible();

  // Fewer months: the report is asked for again, with six rows.
  const lastMonth = await page.getByLabel('Last month').inputValue();
  const [y, m] = lastMonth.split('-').map(Number);
  const sixBack = new Date(Date.UTC(y, m - 6, 1)).toISOString().slice(0, 7);
  await page.getByLabel('First month').fill(sixBack);
  const askedMrr = page.waitForRequest((r) => r.url().includes('/api/v1/admin/analytics/mrr') && r.url().includes(`from=${sixBack}`));
  await page.getByRole('button', { name: 'Show figures' }).click();
  await askedMrr;
  await expect(page.getByTestId('mrr-table').locator('tbody tr')).toHaveCount(6);

  // A forecast horizon of three months.
  const askedHorizon = page.waitForRequest((r) => r.url().includes('/api/v1/admin/analytics/forecast') && r.url().includes('months=3'));
  await page.getByLabel('Months ahead').selectOption('3');
  await askedHorizon;

  // A refused range is said under its field, and nothing is asked.
  await page.getByLabel('First month').fill(lastMonth);
  await page.getByLabel('Last month').fill(sixBack);
  await page.getByRole('button', { name: 'Show figures' }).click();
  await expect(page.locator('#business-fromMonth-error')).toHaveText('The first month comes after the last one.');
  await expect(page.getByLabel('First month')).toHaveAttribute('aria-invalid', 'true');
  await page.getByLabel('Last month').fill(lastMonth);
  await page.getByLabel('First month').fill(sixBack);

  // A segment: only accounts on Pro now, in the funnel, retention and product usage.
  const askedFunnel = page.waitForRequest((r) => r.url().includes('/api/v1/admin/analytics/funnel') && r.url().includes('plan=pro'));
  const askedUsage = page.waitForRequest(
    (r) => r.url().includes('/api/v1/admin/analytics/usage') && r.url().includes('plan=pro') && r.url().includes(`to=${toDay}`),
  );
  await page.getByLabel('Plan', { exact: true }).selectOption('pro');
  await page.getByRole('button', { name: 'Show figures' }).click();
  await askedFunnel;
  await askedUsage;
  await expect(page.getByTestId('funnel-table')).toBeVisible();

  // CSV files: the monthly metrics and the funnel, with their header rows.
  const monthly = page.waitForEvent('download');
  await page.getByRole('button', { name: `Download CSV of Monthly subscription metrics (${OTHER})` }).click();
  const file = await monthly;
  expect(file.suggestedFilename()).toBe(`monthly-subscription-metrics-${other}.csv`);
  const text = await readFile(await file.path(), 'utf8');
  const lines = text.split('\r\n');
  expect(lines[0]).toBe(
    [
      'Month',
      ...['New', 'Expansion', 'Reactivation', 'Contraction', 'Churn', 'Net', 'MRR', 'ARR'].map((h) => `${h} (${OTHER})`),
      'Customers',
      'New customers',
      'Reactivated customers',
      'Churned customers',
      `ARPA (${OTHER})`,
      'Customer churn rate (%)',
      'Net MRR churn rate (%)',
      `LTV (${OTHER})`,
    ].join(','),
  );
  expect(lines.filter(Boolean)).toHaveLength(7);
  expect(lines[1]).toMatch(new RegExp(`^${sixBack},`));

  const funnelFile = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV of Activation funnel' }).click();
  const funnelText = await readFile(await (await funnelFile).path(), 'utf8');
  expect(funnelText.split('\r\n')[0]).toBe('Stage,Accounts,Of the stage before (%),Of sign-ups (%),Median time from the stage before (seconds)');
  expect(funnelText).toContain('Signed up,');
  await expectNoAxeViolations(page);

  // On a phone: nothing wider than the screen (the tables scroll inside their box).
  await page.setViewportSize({ width: 390, height: 844 });
  await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test('members cannot open the Business page nor read its figures', async ({ signedIn: page }) => {
  await page.goto('/admin/business');
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  expect((await page.request.get('/api/v1/admin/analytics/mrr')).status()).toBe(403);
});
