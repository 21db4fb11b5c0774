import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { consentNotice, createSession, expect, serverMessages, test, uniqueEmail, waitForReplies } from './fixtures';

// The notice before the first message: what is written in a planning session goes to the model
// providers (on these test servers only the offline planner answers, and the notice says that
// nothing leaves the server). It is shown once, recorded as consent by the server, and shown
// again after the consent is withdrawn on the Account page.

type ConsentList = { items: { kind: string; version: string; withdrawn_at?: string | null }[]; notices: { kind: string; given: boolean }[] };

async function consents(page: Page): Promise<ConsentList> {
  const res = await page.request.get('/api/v1/me/consents');
  expect(res.ok()).toBeTruthy();
  return res.json();
}

async function userMessages(page: Page, sessionId: string): Promise<string[]> {
  return (await serverMessages(page.request, sessionId)).filter((m) => m.role === 'user').map((m) => m.content);
}

test('a new account sees the notice before its first message; agreeing records the consent and sends the message, and it is not asked again', async ({
  page,
}) => {
  // Sign up through the UI.
  await page.goto('/signup');
  await page.getByLabel('Email').fill(uniqueEmail());
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  expect((await consents(page)).notices.find((n) => n.kind === 'llm_processing')?.given).toBe(false);

  const { id } = await createSession(page, { title: 'Consent Plan' });
  await page.goto(`/sessions/${id}`);
  await expect(page.getByTestId('message')).toHaveCount(1);

  const first = 'Busy parents who plan a week of dinners on Sunday evening.';
  const composer = page.getByLabel('Your message');
  await composer.fill(first);
  await composer.press('Enter');

  // The notice, in the installation's words, with the keyboard on it; nothing was sent yet.
  const notice = consentNotice(page);
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('what you write stays on this server');
  await expect(notice.getByRole('link', { name: 'Account → Consents' })).toHaveAttribute('href', '/account#consents');
  await expect(notice.getByRole('heading', { name: 'Before you send: how replies are written' })).toBeFocused();
  await expect(composer).toHaveValue(first);
  expect(await userMessages(page, id)).toEqual([]);
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  // Agree: the consent is recorded, then the message goes out and the reply arrives.
  await notice.getByRole('button', { name: 'Agree and send' }).click();
  await expect(notice).toHaveCount(0);
  await expect(composer).toHaveValue('');
  await expect(composer).toBeFocused();
  await expect(page.getByTestId('message').filter({ hasText: first })).toHaveCount(1);
  await waitForReplies(page, id, 3);
  await expect(page.getByTestId('message').last()).toHaveAttribute('data-status', 'complete');
  const recorded = await consents(page);
  expect(recorded.notices.find((n) => n.kind === 'llm_processing')?.given).toBe(true);
  expect(recorded.items.filter((c) => c.kind === 'llm_processing' && !c.withdrawn_at).map((c) => c.version)).toEqual(['2026-12']);

  // After a reload the second message goes out at once.
  await page.reload();
  await expect(page.getByTestId('message')).toHaveCount(3);
  const second = 'The shopping list is shared by the whole family.';
  await page.getByLabel('Your message').fill(second);
  await page.getByLabel('Your message').press('Enter');
  await expect(page.getByTestId('message').filter({ hasText: second })).toHaveCount(1);
  await expect(consentNotice(page)).toHaveCount(0);
  await waitForReplies(page, id, 5);
  expect(await userMessages(page, id)).toEqual([first, second]);
  await expect(consentNotice(page)).toHaveCount(0);
  expect((await consents(page)).items).toHaveLength(1);
});

test('withdrawn on the Account page, the notice is shown again before the next message; "Not now" keeps the text', async ({ signedIn: page }) => {
  // The test account agreed already: its first message goes out without the notice.
  const { id } = await createSession(page, { title: 'Withdrawn Plan' });
  await page.goto(`/sessions/${id}`);
  await page.getByLabel('Your message').fill('First, with consent.');
  await page.getByLabel('Your message').press('Enter');
  await expect(page.getByTestId('message').filter({ hasText: 'First, with consent.' })).toHaveCount(1);
  await expect(consentNotice(page)).toHaveCount(0);
  await waitForReplies(page, id, 3);

  // Withdraw it on the Account page, and come back to the session.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  const card = page.getByTestId('consent-llm_processing');
  await card.getByRole('button', { name: 'Withdraw consent' }).click();
  await expect(card.getByText('not given')).toBeVisible();
  await page.goBack();
  await expect(page.getByRole('heading', { level: 1, name: 'Withdrawn Plan' })).toBeVisible();

  const composer = page.getByLabel('Your message');
  const text = 'Second, after withdrawing.';
  await composer.fill(text);
  await composer.press('Enter');
  const notice = consentNotice(page);
  await expect(notice).toBeVisible();

  // "Not now": nothing sent, the text stays, and the page says why.
  await notice.getByRole('button', { name: 'Not now' }).click();
  await expect(notice).toHaveCount(0);
  await expect(composer).toHaveValue(text);
  await expect(composer).toBeFocused();
  await expect(page.getByTestId('consent-declined')).toContainText('Nothing was sent. Your message is still in the box below.');
  expect(await userMessages(page, id)).toEqual(['First, with consent.']);

  // The notice's link leads to the consents; coming back, the text is still in the box.
  await page.getByRole('button', { name: 'Send' }).click();
  await notice.getByRole('link', { name: 'Account → Consents' }).click();
  await expect(page).toHaveURL(/\/account#consents$/);
  await expect(page.getByRole('heading', { name: 'Consents' })).toBeFocused();
  await page.goBack();
  await expect(page.getByLabel('Your message')).toHaveValue(text);

  // Agreeing again sends it.
  await page.getByLabel('Your message').press('Enter');
  await notice.getByRole('button', { name: 'Agree and send' }).click();
  await expect(page.getByTestId('message').filter({ hasText: text })).toHaveCount(1);
  await waitForReplies(page, id, 5);
  expect(await userMessages(page, id)).toEqual(['First, with consent.', text]);
  expect((await consents(page)).items.filter((c) => c.kind === 'llm_processing')).toHaveLength(2);
});

test('a consent the server could not record is said in plain words; nothing is sent and the text is kept', async ({ signedIn: page }) => {
  expect((await page.request.post('/api/v1/me/consents', { data: { kind: 'llm_processing', given: false } })).ok()).toBeTruthy();
  const { id } = await createSession(page, { title: 'Failing Consent' });
  await page.goto(`/sessions/${id}`);
  await page.route('**/api/v1/me/consents', (route) =>
    route.request().method() === 'POST'
      ? route.fulfill({
          status: 503,
          contentType: 'application/json',
          headers: { 'x-request-id': 'req-consent-1' },
          body: JSON.stringify({ error: { code: 'unavailable', message: 'Plansmith is busy right now.', hint: 'Try again in a moment.', request_id: 'req-consent-1' } }),
        })
      : route.fallback(),
  );
  const composer = page.getByLabel('Your message');
  const text = 'Please keep this text.';
  await composer.fill(text);
  await composer.press('Enter');
  const notice = consentNotice(page);
  await notice.getByRole('button', { name: 'Agree and send' }).click();
  const alert = notice.getByRole('alert');
  await expect(alert).toContainText('Plansmith is busy right now.');
  await expect(alert).toContainText('Try again in a moment.');
  await expect(alert).toContainText('req-consent-1');
  await expect(composer).toHaveValue(text);
  await expect(page.getByTestId('pending-message')).toHaveCount(0);
  expect(await userMessages(page, id)).toEqual([]);

  // The server answers again: agreeing now records it and sends the text.
  await page.unroute('**/api/v1/me/consents');
  await notice.getByRole('button', { name: 'Agree and send' }).click();
  await expect(notice).toHaveCount(0);
  await expect(page.getByTestId('message').filter({ hasText: text })).toHaveCount(1);
  await waitForReplies(page, id, 3);
  expect(await userMessages(page, id)).toEqual([text]);
});
