import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { createSession, expect, test, uniqueEmail } from './fixtures';
import { setRole } from './server';

async function signIn(page: Page, email: string, password: string) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
}

test('the audit page: filter by action, and a range in the wrong order is refused under its field', async ({ page, server, request }) => {
  const email = uniqueEmail();
  const password = 'correct horse battery';
  expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email, password, name: 'Ada Admin' } })).status()).toBe(201);
  await setRole(server, email, 'admin');
  await signIn(page, email, password);
  const { id } = await createSession(page, { title: 'Audit Trail Plan' });
  expect((await page.request.get(`/api/v1/sessions/${id}`)).ok()).toBe(true);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audit' })).toBeVisible();
  const table = page.getByTestId('audit-table');
  await expect(table.locator('[data-action="sessions.read"]').first()).toBeVisible();

  // By action: only those entries.
  await page.getByLabel('Action', { exact: true }).fill('sessions.create');
  await page.getByRole('button', { name: 'Show entries' }).click();
  const rows = table.getByTestId('audit-entry');
  await expect(rows.first()).toHaveAttribute('data-action', 'sessions.create');
  await expect(rows.first()).toContainText(id);
  expect(await rows.evaluateAll((r) => r.map((e) => e.getAttribute('data-action')))).toEqual(
    Array(await rows.count()).fill('sessions.create'),
  );
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  // By session: the entries about it.
  await page.getByLabel('Action', { exact: true }).fill('');
  await page.getByLabel('Session id', { exact: true }).fill(id);
  await page.getByRole('button', { name: 'Show entries' }).click();
  await expect(rows.first()).toContainText(id);
  await expect(table.locator('[data-action="sessions.read"]').first()).toBeVisible();

  // A session id that is not one: said before asking the server.
  await page.getByLabel('Session id', { exact: true }).fill('not-an-id');
  await page.getByRole('button', { name: 'Show entries' }).click();
  await expect(page.locator('#audit-session-error')).toContainText('not a session id');
  await expect(page.getByLabel('Session id', { exact: true })).toBeFocused();
  await page.getByLabel('Session id', { exact: true }).fill('');

  // From after To: the server's refusal, under From.
  await page.getByLabel('From', { exact: true }).fill('2026-03-02T10:00');
  await page.getByLabel('To', { exact: true }).fill('2026-03-01T10:00');
  await page.getByRole('button', { name: 'Show entries' }).click();
  await expect(page.locator('#audit-from-error')).toContainText('From must be before to');
  await expect(page.getByLabel('From', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('From', { exact: true })).toBeFocused();
  await expect(table).toHaveCount(0);

  // Cleared, the whole trail again.
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect(page.locator('#audit-from-error')).toHaveCount(0);
  await expect(table.locator('[data-action="sessions.read"]').first()).toBeVisible();
});
