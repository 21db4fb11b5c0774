import AxeBuilder from '@axe-core/playwright';
import { expect, test } from './fixtures';

test('the account page changes the password, lists sign-ins and signs out everywhere', async ({ signedIn: page, account, request, server }) => {
  // A second sign-in elsewhere, which the password change ends.
  const other = await request.post(`${server.url}/api/v1/auth/login`, {
    data: account,
    headers: { 'user-agent': 'Other device/1.0' },
  });
  expect(other.status()).toBe(200);
  const otherToken = (await other.json()).token as string;

  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();
  await expect(page.getByText('This device', { exact: true })).toBeVisible();
  await expect(page.getByText('Other device/1.0')).toBeVisible();
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  // A wrong current password is explained, and this device stays signed in.
  await page.getByLabel('Current password').fill('not my password');
  await page.getByLabel('New password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('The current password is not correct.')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();

  await page.getByLabel('Current password').fill(account.password);
  await page.getByLabel('New password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('Password changed. Every other device was signed out.')).toBeVisible();
  await expect(page.getByText('Other device/1.0')).toHaveCount(0);
  const me = await request.get(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${otherToken}` } });
  expect(me.status()).toBe(401);

  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Plansmith' })).toBeVisible();
  await page.goto('/account');
  await expect(page.getByRole('heading', { name: 'Sign in to Plansmith' })).toBeVisible();
});
