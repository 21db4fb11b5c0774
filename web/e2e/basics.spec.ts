import AxeBuilder from '@axe-core/playwright';
import { adminApi, expect, test } from './fixtures';

async function expectNoAxeViolations(page: import('@playwright/test').Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

test('a visitor gets the front page at /, with the way to an account; a signed-in person gets their sessions', async ({ page, account }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Plan your software project');
  await expectNoAxeViolations(page);
  await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/signin$/);
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
});

test('the navigation marks the page shown with aria-current', async ({ signedIn: page }) => {
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Sessions' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.locator('[aria-current=page]')).toHaveCount(1);
  await nav.getByRole('link', { name: 'Account' }).click();
  await expect(nav.getByRole('link', { name: 'Account' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.getByRole('link', { name: 'Sessions' })).not.toHaveAttribute('aria-current', /.*/);
  await nav.getByRole('link', { name: 'New session' }).click();
  await expect(nav.getByRole('link', { name: 'New session' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.locator('[aria-current=page]')).toHaveCount(1);
});

test('an unknown address shows a not-found page that leads back to the sessions', async ({ signedIn: page }) => {
  await page.goto('/no/such/page');
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  await expectNoAxeViolations(page);
  await page.getByRole('link', { name: 'Go to your sessions' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  // Signed out, it leads to the front page instead of asking to sign in.
  await page.context().clearCookies();
  await page.goto('/no/such/page');
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Go to the front page' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Plan your software project');
});

test('password reset end to end: ask for the link, open it from the email, choose a new password, sign in with it', async ({
  page,
  account,
  server,
}) => {
  await page.goto('/signin');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email').fill(account.email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(page.getByRole('main').getByRole('status')).toContainText('we sent a link');

  // The email as the outbox has it (read through the admin API, as an operator would).
  const admin = await adminApi(server);
  let link = '';
  await expect
    .poll(async () => {
      const emails = (await (await admin.get('/api/v1/admin/emails')).json()).items as { to: string; kind: string; body: string }[];
      const mail = emails.find((e) => e.to === account.email && e.kind === 'password_reset');
      link = /\/reset-password\?token=[^\s]+/.exec(mail?.body ?? '')?.[0] ?? '';
      return link;
    })
    .not.toBe('');
  await admin.dispose();

  await page.goto(link);
  await expect(page.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
  await page.getByLabel('New password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('Your password is changed.')).toBeVisible();

  await page.goto('/signin');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
});
