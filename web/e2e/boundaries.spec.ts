import { createSession, expect, test, waitForReplies } from './fixtures';

test('a render error in the document panel is contained: chat, steps and history keep working', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Boundary Check' });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`/sessions/${id}?crash=document`);

  const fallback = page.getByTestId('boundary-document');
  await expect(fallback).toBeVisible();
  await expect(fallback).toContainText('The document could not be shown');
  await expect(fallback).toContainText('support@plansmith.dev');
  await expect(fallback.locator('code')).toHaveText(/^web-/);
  // The rest of the page is there and works.
  await expect(page.getByRole('heading', { level: 1, name: 'Boundary Check' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Conversation' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Revision history' })).toBeVisible();
  await page.getByLabel('Your message').fill('draft the rest');
  await page.getByLabel('Your message').press('Enter');
  await waitForReplies(page, id, 3);
  await expect(page.getByTestId('message')).toHaveCount(3);

  // "Try again" brings the panel back, with the drafted sections.
  await fallback.getByRole('button', { name: 'Try again' }).click();
  await expect(fallback).toHaveCount(0);
  await expect(page.getByTestId('doc-section').first()).toBeVisible();
  await expect(page.locator('.empty-section')).toHaveCount(0);
});

test('a render error in the chat panel leaves the document usable', async ({ signedIn: page }) => {
  const { id } = await createSession(page);
  await page.goto(`/sessions/${id}?crash=chat`);
  await expect(page.getByTestId('boundary-chat')).toBeVisible();
  await expect(page.getByTestId('doc-section').first()).toBeVisible();
  await expect(page.getByRole('button', { name: /^Edit / }).first()).toBeEnabled();
});

test('a render error in the session list is contained and recoverable', async ({ signedIn: page }) => {
  await createSession(page, { title: 'Listed Session' });
  await page.goto('/?crash=list');
  await expect(page.getByTestId('boundary-list')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await page.getByTestId('boundary-list').getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByRole('link', { name: 'Listed Session' })).toBeVisible();
});

test('API errors show a human message and next step, never raw JSON', async ({ page, account }) => {
  // Wrong password.
  await page.goto('/signin');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible();
  await expect(alert).not.toContainText('{');
  await expect(alert).not.toContainText('"error"');

  // A session that does not exist (or is someone else's).
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  await page.goto('/sessions/01900000-0000-7000-8000-000000000000');
  const notFound = page.getByRole('alert');
  await expect(notFound).toBeVisible();
  await expect(notFound.locator('.notice-hint')).not.toBeEmpty();
  // Not a fault of the server: no request id to quote, no support address.
  await expect(notFound).not.toContainText('Request id');
  await expect(notFound).not.toContainText('{');
});

test('an expired session (401) goes to sign-in and comes back after signing in', async ({ signedIn: page, account }) => {
  const { id } = await createSession(page, { title: 'Come Back Here' });
  await page.context().clearCookies();
  await page.goto(`/sessions/${id}`);
  await expect(page).toHaveURL(/\/signin\?next=/);
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Come Back Here' })).toBeVisible();
});
