import type { Page } from '@playwright/test';
import { createSession, expect, test, type Account } from './fixtures';

async function signIn(page: Page, account: Account) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
}

// A server set up unlike the defaults: its own support contact and a short title limit. The
// app must take both from GET /api/v1/about, not from what it was built with.
test.use({ serverSettings: { PLANSMITH_SUPPORT__CONTACT: 'help@example.org', PLANSMITH_LIMITS__MAX_TITLE_CHARS: '40' } });

test("the installation's title limit drives the counter and the app's own check; /about is asked once per app load", async ({ page, account }) => {
  const asked: string[] = [];
  page.on('request', (r) => new URL(r.url()).pathname === '/api/v1/about' && asked.push(r.url()));
  await signIn(page, account);
  const main = page.getByRole('navigation', { name: 'Main' });
  await main.getByRole('link', { name: 'New session' }).click();
  const title = page.getByLabel('Title');
  await title.fill('x'.repeat(35));
  await expect(page.getByTestId('char-counter')).toHaveText('35 of 40 characters');
  await title.fill('x'.repeat(45));
  await expect(page.getByTestId('char-counter')).toHaveText('5 characters over the limit of 40');
  await page.getByLabel('Your idea').fill('Families plan meals together.');
  await page.getByRole('button', { name: 'Start session' }).click();
  await expect(page.locator('#title-error')).toContainText('at most 40 characters');
  // Pages shown inside the app ask nothing more; a new load asks again.
  await main.getByRole('link', { name: 'Sessions' }).click();
  await main.getByRole('link', { name: 'Account' }).click();
  expect(asked).toHaveLength(1);
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect.poll(() => asked.length).toBe(2);
});

test("the crash fallback and faults of the server name the installation's support contact", async ({ signedIn: page }) => {
  await page.goto('/?crash=list');
  const fallback = page.getByTestId('boundary-list');
  await expect(fallback).toContainText('write to help@example.org');
  await expect(fallback.getByRole('link', { name: 'help@example.org' })).toHaveAttribute('href', 'mailto:help@example.org');
  await expect(fallback).not.toContainText('support@plansmith.dev');

  await page.route(
    (url) => url.pathname === '/api/v1/sessions',
    (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({
            status: 500,
            contentType: 'application/json',
            body: JSON.stringify({
              error: { code: 'internal_error', message: 'Something broke on our side.', hint: 'Try again in a moment.', request_id: 'req-about-1' },
            }),
          })
        : route.fallback(),
  );
  await page.goto('/sessions/new');
  await page.getByLabel('Title').fill('Fault Plan');
  await page.getByLabel('Your idea').fill('Families plan meals together.');
  await page.getByRole('button', { name: 'Start session' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('Request id req-about-1');
  await expect(alert).toContainText('quote it to help@example.org');
});

test('without /about (offline on a first visit) the defaults stand in, and the server still refuses by its own limit', async ({ page, account }) => {
  await page.route('**/api/v1/about', (route) => route.abort());
  await signIn(page, account);
  await page.goto('/?crash=list');
  await expect(page.getByTestId('boundary-list')).toContainText('write to support@plansmith.dev');
  await page.goto('/sessions/new');
  const title = page.getByLabel('Title');
  await title.fill('x'.repeat(170));
  await expect(page.getByTestId('char-counter')).toHaveText('170 of 200 characters');
  // The app thinks 45 characters are fine; the server (limit 40) refuses them, and its refusal
  // (error.field = "title") lands under the title field, without the "title: " prefix.
  await title.fill('x'.repeat(45));
  await page.getByLabel('Your idea').fill('Families plan meals together.');
  await page.getByRole('button', { name: 'Start session' }).click();
  await expect(page.locator('#title-error')).toHaveText('The title is too long: at most 40 characters.');
  await expect(title).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('body')).not.toContainText('title:');
  await expect(page).toHaveURL(/\/sessions\/new$/);
});

test('while the offline planner answers, the session page says so once, folded, with how to connect a model provider', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Planner Note' });
  const about = await (await page.request.get('/api/v1/about')).json();
  expect(about.offline_planner).toBe(true);
  await page.goto(`/sessions/${id}`);
  const note = page.getByTestId('offline-planner-note');
  await expect(note).toHaveCount(1);
  await expect(note).toContainText('built-in offline planner');
  await expect(note.getByText('[[llm.providers]]')).toBeHidden();
  await note.getByText('The built-in offline planner is answering.').click();
  await expect(note.getByText('[[llm.providers]]')).toBeVisible();
  await expect(note).toContainText('llm.route');
  await expect(note).toContainText('Model providers');

  // An installation with a model provider first in its route: no notice.
  await page.route('**/api/v1/about', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), offline_planner: false } });
  });
  const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/about');
  await page.reload();
  await answered;
  await expect(page.getByRole('heading', { level: 1, name: 'Planner Note' })).toBeVisible();
  await expect(page.getByTestId('message').first()).toBeVisible();
  await expect(note).toHaveCount(0);
});
