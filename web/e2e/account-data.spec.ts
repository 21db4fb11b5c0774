import AxeBuilder from '@axe-core/playwright';
import { readFile } from 'node:fs/promises';
import { createSession, expect, test } from './fixtures';

test('download all my data: one JSON file with the account email and the sessions', async ({ signedIn: page, account }) => {
  const { id } = await createSession(page, { title: 'Exported Plan' });
  await page.goto('/account');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download all my data (JSON)' }).click(),
  ]);
  const text = await readFile(await download.path(), 'utf8');
  const data = JSON.parse(text) as unknown;
  const all = JSON.stringify(data);
  expect(all).toContain(account.email);
  expect(all).toContain(id);
  expect(all).toContain('Exported Plan');
});

test('consents are given and withdrawn from the account page, with their history', async ({ signedIn: page }) => {
  await page.goto('/account');
  const notice = page.getByTestId('consent-llm_processing');
  await expect(notice).toBeVisible();
  // Whatever the starting state, give it, withdraw it, and see both in the history.
  if (await notice.getByRole('button', { name: 'Withdraw consent' }).isVisible()) {
    await notice.getByRole('button', { name: 'Withdraw consent' }).click();
  }
  await notice.getByRole('button', { name: 'Give consent' }).click();
  await expect(notice.getByText('you gave your consent')).toBeVisible();
  await expect(page.getByTestId('consent-history').getByText(/given .*, stands/)).toBeVisible();

  await notice.getByRole('button', { name: 'Withdraw consent' }).click();
  await expect(notice.getByText('not given')).toBeVisible();
  await expect(notice.getByRole('button', { name: 'Give consent' })).toBeVisible();
  await expect(page.getByTestId('consent-history').getByText(/given .*, withdrawn /).last()).toBeVisible();

  const res = await page.request.get('/api/v1/me/consents');
  const body = (await res.json()) as { items: { kind: string; withdrawn_at?: string | null }[] };
  expect(body.items.some((c) => c.kind === 'llm_processing' && c.withdrawn_at)).toBeTruthy();
  // After a reload the page shows what the server holds.
  await page.reload();
  await expect(page.getByTestId('consent-llm_processing').getByText('not given')).toBeVisible();
});

test('delete my account: a wrong password erases nothing, the right one signs out for good', async ({
  signedIn: page,
  account,
  playwright,
  baseURL,
}) => {
  await createSession(page, { title: 'Soon Gone' });
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  await page.goto('/account');
  await page.getByRole('button', { name: 'Delete my account…' }).click();

  await page.getByLabel('Your password').fill('not my password at all');
  await page.getByLabel('This erases your sessions, documents and account for good.').check();
  await page.getByRole('button', { name: 'Delete my account for good' }).click();
  await expect(page.getByText('That is not your password. Nothing was erased.')).toBeVisible();
  await expect(page.getByLabel('Your password')).toHaveAttribute('aria-invalid', 'true');
  // Still signed in, still on the account page, the account still there.
  await expect(page.getByRole('heading', { name: 'Your account', exact: true })).toBeVisible();
  expect((await page.request.get('/api/v1/me')).status()).toBe(200);
  expect(JSON.stringify(await (await page.request.get('/api/v1/sessions')).json())).toContain('Soon Gone');

  await page.getByLabel('Your password').fill(account.password);
  await page.getByRole('button', { name: 'Delete my account for good' }).click();
  await expect(page.getByText('Your account was erased.')).toBeVisible();
  await expect(page.getByRole('link', { name: 'Create a free account' })).toBeVisible();
  await expect(page).toHaveURL(/\/$/);

  // What the browser kept is gone with it.
  const kept = await page.evaluate(() => localStorage.getItem('plansmith_last_user'));
  expect(kept).toBeNull();

  // The old sign-in no longer works, and neither does the old password.
  const other = await playwright.request.newContext({ baseURL });
  expect((await other.get('/api/v1/me', { headers: { cookie } })).status()).toBe(401);
  const login = await other.post('/api/v1/auth/login', { data: { email: account.email, password: account.password } });
  expect(login.status()).toBe(401);
  await other.dispose();
});

test('axe finds no WCAG A/AA violations on the account page, with the delete form open', async ({ signedIn: page }) => {
  await page.goto('/account');
  await expect(page.getByTestId('consent-llm_processing')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign out everywhere' })).toBeVisible();
  await page.getByRole('button', { name: 'Delete my account…' }).click();
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
});
