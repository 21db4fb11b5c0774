import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, test, uniqueEmail } from './fixtures';
import { setRole } from './server';

const password = 'correct horse battery';

async function signIn(page: Page, email: string) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
}

async function expectNoAxeViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

test('incidents: an admin tells one account; it sees the banner on every page until it dismisses it; the admin sees it notified and read', async ({
  page,
  browser,
  server,
  request,
}) => {
  test.setTimeout(120_000);
  const admin = uniqueEmail();
  const member = uniqueEmail();
  const bystander = uniqueEmail();
  for (const email of [admin, member, bystander]) {
    expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email, password } })).status()).toBe(201);
  }
  await setRole(server, admin, 'admin');
  const login = await request.post(`${server.url}/api/v1/auth/login`, { data: { email: member, password } });
  const { user } = (await login.json()) as { user: { id: string } };

  // The admin publishes a notice to the member only.
  await signIn(page, admin);
  await page.goto('/admin/incidents');
  await expect(page.getByRole('heading', { level: 1, name: 'Incidents' })).toBeVisible();
  await expect(page.getByText('No incident notices yet.')).toBeVisible();
  await expectNoAxeViolations(page);

  // What is missing is said before asking the server.
  await page.getByRole('button', { name: 'Publish notice' }).click();
  await expect(page.locator('#incident-title-error')).toContainText('Give the notice a short title');
  await expect(page.getByLabel('Title')).toBeFocused();

  await page.getByLabel('Severity').selectOption('sev2');
  await page.getByLabel('Title').fill('Replies are slow');
  await page.getByLabel('What happened, and what people should do').fill('A model provider is failing. Replies take longer; nothing you wrote is lost.');
  await page.getByLabel('Only some accounts').check();
  // An id of no account: the server's refusal, under the list.
  await page.getByLabel('Account ids').fill('0190b6a5-0000-7000-8000-000000000000');
  await page.getByRole('button', { name: 'Publish notice' }).click();
  await expect(page.locator('#incident-user_ids-error')).toContainText('No account has the id 0190b6a5-0000-7000-8000-000000000000');
  await expect(page.getByLabel('Account ids')).toHaveAttribute('aria-invalid', 'true');

  await page.getByLabel('Account ids').fill(`${user.id}\n`);
  await page.getByRole('button', { name: 'Publish notice' }).click();
  await expect(page.locator('.published-note')).toContainText('Published “Replies are slow” to 1 account; 1 email queued.');
  const row = page.locator('[data-testid=incident-row][data-title="Replies are slow"]');
  await expect(row).toContainText('Major (sev2)');
  await expect(row).toContainText('0 of 1');
  await expectNoAxeViolations(page);

  // The member sees the banner, on every page.
  const memberContext = await browser.newContext({ baseURL: server.url });
  const memberPage = await memberContext.newPage();
  await signIn(memberPage, member);
  const banner = memberPage.getByRole('alert', { name: /Replies are slow/ });
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('Major: Replies are slow');
  await expect(banner).toContainText('nothing you wrote is lost');
  await expect(banner).toHaveAttribute('data-severity', 'sev2');
  await memberPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  await expect(memberPage.getByRole('heading', { level: 1, name: 'Your account' })).toBeVisible();
  await expect(banner).toBeVisible();
  await expectNoAxeViolations(memberPage);

  // The bystander was not told.
  const bystanderContext = await browser.newContext({ baseURL: server.url });
  const bystanderPage = await bystanderContext.newPage();
  const checked = bystanderPage.waitForResponse((r) => r.url().endsWith('/api/v1/me/incidents') && r.request().method() === 'GET');
  await signIn(bystanderPage, bystander);
  expect(((await (await checked).json()) as { items: unknown[] }).items).toEqual([]);
  await expect(bystanderPage.getByTestId('incident-banner')).toHaveCount(0);
  await bystanderContext.close();

  // Dismissed: the read receipt goes out, the banner goes, and stays gone after a reload.
  const receipt = memberPage.waitForResponse((r) => /\/api\/v1\/me\/incidents\/[^/]+\/read$/.test(r.url()));
  await banner.getByRole('button', { name: 'Got it, hide the notice “Replies are slow”' }).click();
  expect((await receipt).status()).toBe(204);
  await expect(memberPage.getByTestId('incident-banner')).toHaveCount(0);
  await expect(memberPage.getByRole('heading', { level: 1, name: 'Your account' })).toBeFocused();
  const reloaded = memberPage.waitForResponse((r) => r.url().endsWith('/api/v1/me/incidents') && r.request().method() === 'GET');
  await memberPage.reload();
  const after = (await (await reloaded).json()) as { items: { title: string; read_at: string | null }[] };
  expect(after.items).toEqual([expect.objectContaining({ title: 'Replies are slow', read_at: expect.any(String) })]);
  await expect(memberPage.getByRole('heading', { level: 1, name: 'Your account' })).toBeVisible();
  await expect(memberPage.getByTestId('incident-banner')).toHaveCount(0);
  await memberContext.close();

  // The admin's detail: the member notified and read.
  await page.reload();
  await expect(row).toContainText('1 of 1');
  await row.getByRole('link', { name: 'Replies are slow' }).click();
  const detail = page.getByTestId('incident-detail');
  await expect(detail.getByRole('heading', { name: 'Replies are slow' })).toBeFocused();
  const recipient = detail.locator(`[data-testid=incident-recipient][data-email="${member}"]`);
  await expect(recipient).toContainText('Email queued');
  await expect(recipient).toContainText('Read');
  await expect(recipient).not.toContainText('Not read');
  await expect(detail.getByTestId('incident-counts')).toContainText('Read1');
  await expect(detail.getByTestId('incident-recipient')).toHaveCount(1);
  await expectNoAxeViolations(page);
  await page.getByRole('link', { name: '← All notices' }).click();
  await expect(row).toBeVisible();
});
