import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { createSession, expect, test, uniqueEmail, waitForReplies } from './fixtures';
import { setRole } from './server';

async function expectNoAxeViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

async function signIn(page: Page, email: string, password: string) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
}

test('members see no admin console: no link, and /admin is not found', async ({ signedIn: page }) => {
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await page.goto('/admin/users');
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
});

test('the admin console: its own chunk, every page of it, and changes to an account', async ({ page, server, request }) => {
  test.setTimeout(120_000);
  // An admin, made the way an operator makes one (`plansmith users set-role`), and a member.
  const email = uniqueEmail();
  const password = 'correct horse battery';
  expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email, password, name: 'Ada Admin' } })).status()).toBe(201);
  await setRole(server, email, 'admin');
  const member = uniqueEmail();
  expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email: member, password, name: 'Max Member' } })).status()).toBe(201);

  const scripts: string[] = [];
  page.on('request', (r) => r.resourceType() === 'script' && scripts.push(r.url()));
  await signIn(page, email, password);
  // Some usage to show: one reply of the offline planner.
  const { id } = await createSession(page, { title: 'Usage Plan' });
  await page.request.post(`/api/v1/sessions/${id}/messages`, { data: { content: 'It is for families.' } });
  await waitForReplies(page, id, 3);
  expect(scripts.some((u) => /AdminConsole-/.test(u))).toBe(false);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Model providers' })).toBeVisible();
  expect(scripts.some((u) => /AdminConsole-/.test(u))).toBe(true);
  await expect(page.getByTestId('provider').first()).toContainText('Working');
  await expectNoAxeViolations(page);

  const adminNav = page.getByRole('navigation', { name: 'Admin' });
  await adminNav.getByRole('link', { name: 'Usage and cost' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Usage and cost' })).toBeVisible();
  await expect(adminNav.getByRole('link', { name: 'Usage and cost' })).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('usage-table')).toContainText('offline');
  await expect(page.getByRole('img', { name: /Cost by provider/ })).toBeVisible();
  // By user: named by email, not by id.
  await page.getByLabel('Group by').selectOption('user');
  await expect(page.getByTestId('usage-table')).toContainText(email);
  await page.getByLabel('Group by').selectOption('day');
  await expect(page.getByRole('img', { name: /per day/ })).toBeVisible();
  await page.getByLabel('Chart').selectOption('calls');
  await expect(page.getByRole('img', { name: /Calls per day/ })).toBeVisible();
  await expectNoAxeViolations(page);

  await adminNav.getByRole('link', { name: 'Users' }).click();
  const row = page.locator(`[data-testid=user-row][data-email="${member}"]`);
  await expect(row).toBeVisible();
  await expect(page.locator(`[data-testid=user-row][data-email="${email}"]`)).toContainText('(you)');
  await expectNoAxeViolations(page);
  await row.getByLabel(/Plan override of/).selectOption('pro');
  await expect(row.getByRole('status')).toHaveText('Plan set to pro.');
  await row.getByLabel(/Role of/).selectOption('admin');
  await expect(row.getByRole('status')).toHaveText('Role set to admin.');
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('Disabled');
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'End sign-ins' }).click();
  await expect(row.getByRole('status')).toContainText('sign-in');
  const users = (await (await page.request.get('/api/v1/admin/users')).json()).items as { email: string; plan_override: string; role: string; disabled: boolean }[];
  expect(users.find((u) => u.email === member)).toMatchObject({ plan_override: 'pro', role: 'admin', disabled: true });
  // The member cannot sign in while disabled.
  expect((await request.post(`${server.url}/api/v1/auth/login`, { data: { email: member, password } })).ok()).toBe(false);

  // A flag to switch.
  expect((await page.request.put('/api/v1/admin/flags/e2e-console-flag', { data: { enabled: false, description: 'Console test' } })).ok()).toBe(true);
  await adminNav.getByRole('link', { name: 'Feature flags' }).click();
  const flags = page.getByTestId('flags-table');
  await expect(flags).toContainText('e2e-console-flag');
  page.once('dialog', (d) => d.accept());
  await flags.getByRole('button', { name: 'Turn on e2e-console-flag' }).click();
  await expect(flags.getByRole('button', { name: 'Turn off e2e-console-flag' })).toBeVisible();
  const flag = await (await page.request.get('/api/v1/admin/flags/e2e-console-flag')).json();
  expect(flag.definition.enabled).toBe(true);
  await expectNoAxeViolations(page);

  await adminNav.getByRole('link', { name: 'Errors' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Errors' })).toBeVisible();
  await expect(page.getByTestId('errors-table').or(page.getByText('No errors recorded.'))).toBeVisible();
  await expectNoAxeViolations(page);

  await adminNav.getByRole('link', { name: 'Security events' }).click();
  await expect(page.getByTestId('security-table')).toContainText('Sign-in');
  await page.getByLabel('Kind').selectOption('role_changed');
  await expect(page.getByTestId('security-table')).toContainText('Role changed');
  await expect(page.getByTestId('security-table')).not.toContainText('Failed sign-in');
  await expectNoAxeViolations(page);

  // An email to list: a password reset asked for the admin's own account.
  await request.post(`${server.url}/api/v1/auth/password-reset`, { data: { email } });
  await adminNav.getByRole('link', { name: 'Emails' }).click();
  await expect(page.getByTestId('emails')).toContainText('Password reset');
  await expectNoAxeViolations(page);
});

test('the admin console on a phone: pages reachable, tables scroll inside their box', async ({ page, server, request }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const email = uniqueEmail();
  const password = 'correct horse battery';
  expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email, password } })).status()).toBe(201);
  await setRole(server, email, 'admin');
  await signIn(page, email, password);
  await page.goto('/admin/users');
  await expect(page.getByTestId('users-table')).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test('flag client keys: issue one, shown once with a copy button; it evaluates flags until it is revoked', async ({ page, server, request, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const email = uniqueEmail();
  const password = 'correct horse battery';
  expect((await request.post(`${server.url}/api/v1/auth/register`, { data: { email, password } })).status()).toBe(201);
  await setRole(server, email, 'admin');
  await signIn(page, email, password);
  await page.goto('/admin');
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Flag client keys' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Flag client keys' })).toBeVisible();
  await expect(page.getByText('No client keys yet.')).toBeVisible();
  await expectNoAxeViolations(page);

  // A name is needed: said under the field, before asking the server.
  await page.getByRole('button', { name: 'Issue key' }).click();
  await expect(page.locator('#key-name-error')).toContainText('Give the key a name');
  await expect(page.getByLabel('What will use the key')).toHaveAttribute('aria-invalid', 'true');

  await page.getByLabel('What will use the key').fill('billing service');
  await page.getByRole('button', { name: 'Issue key' }).click();
  const shown = page.getByTestId('new-key');
  await expect(shown).toContainText('it will not be shown again');
  const key = await shown.getByLabel('New client key').inputValue();
  expect(key).toMatch(/^pfk_[A-Za-z0-9_-]{40,}$/);
  await shown.getByRole('button', { name: 'Copy key' }).click();
  await expect(shown.getByRole('status')).toHaveText('Copied to the clipboard.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await expectNoAxeViolations(page);

  const row = page.locator('[data-testid=client-key][data-name="billing service"]');
  await expect(row).toContainText('Active');
  await expect(row).toContainText('by you');
  // The list never holds the key itself.
  expect(JSON.stringify(await (await page.request.get('/api/v1/admin/flag-client-keys')).json())).not.toContain(key);

  // Gone from the page once the admin says they kept it, and after a reload.
  await shown.getByRole('button', { name: 'Done, I kept it' }).click();
  await expect(shown).toHaveCount(0);
  await page.reload();
  await expect(row).toBeVisible();
  await expect(page.locator('body')).not.toContainText(key);

  // The key evaluates flags for a service.
  const evaluate = () =>
    request.post(`${server.url}/ofrep/v1/evaluate/flags`, {
      headers: { authorization: `Bearer ${key}` },
      data: { context: { targetingKey: 'service-user-1' } },
    });
  expect((await evaluate()).status()).toBe(200);

  // Revoke asks first; cancelled, nothing happens.
  page.once('dialog', (d) => d.dismiss());
  await row.getByRole('button', { name: 'Revoke the key of billing service' }).click();
  await expect(row).toContainText('Active');
  page.once('dialog', (d) => {
    expect(d.message()).toContain('Revoke the key of “billing service”?');
    void d.accept();
  });
  await row.getByRole('button', { name: 'Revoke the key of billing service' }).click();
  await expect(row).toContainText('Revoked');
  await expect(row.getByRole('button')).toHaveCount(0);
  expect((await evaluate()).status()).toBe(401);
});
