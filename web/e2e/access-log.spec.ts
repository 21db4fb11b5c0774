import AxeBuilder from '@axe-core/playwright';
import { expect, test, uniqueEmail, waitForReplies } from './fixtures';

test('the access log: a new account opens its session, then sees it there in plain words, with a link back', async ({ page }) => {
  // Sign up through the UI.
  await page.goto('/signup');
  await page.getByLabel('Name (optional)').fill('Ada');
  await page.getByLabel('Email').fill(uniqueEmail());
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();

  // A session, started and opened in the app.
  await page.getByRole('link', { name: 'New session' }).first().click();
  await page.getByLabel('Title').fill('Audited Plan');
  await page.getByLabel('Your idea').fill('A small shop sells plants and wants a booking page.');
  await page.getByRole('button', { name: 'Start session' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audited Plan' })).toBeVisible();
  const sessionId = new URL(page.url()).pathname.split('/').pop()!;
  // One reply of the planning agent: a change of the person's data by Plansmith itself.
  expect((await page.request.post(`/api/v1/sessions/${sessionId}/messages`, { data: { content: 'It is for a plant shop.' } })).ok()).toBe(true);
  await waitForReplies(page, sessionId, 3);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  const section = page.getByRole('region', { name: 'Access log', exact: true });
  await expect(section.getByRole('heading', { name: 'Access log' })).toBeVisible();
  const log = section.getByTestId('access-log');
  const viewed = log.locator('[data-testid=access-log-entry][data-action="sessions.read"]', { hasText: 'Viewed a planning session' }).first();
  await expect(viewed).toBeVisible();
  await expect(viewed).toContainText('You');
  await expect(viewed).toContainText('127.0.0.0/24');
  await expect(log.locator('[data-action="sessions.create"]').first()).toContainText('Started a planning session');
  // What the platform did is there too, by its name.
  await expect(log.locator('[data-action="sessions.replies.write"]').first()).toContainText('Plansmith');
  await expect(log.locator('[data-action="sessions.replies.write"]').first()).toContainText('The planning agent wrote a reply');

  const link = viewed.getByRole('link', { name: /Session/ });
  await expect(link).toHaveAttribute('href', `/sessions/${sessionId}`);
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  await link.click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audited Plan' })).toBeVisible();
});

test('the access log pages with “Load more”', async ({ signedIn: page }) => {
  const created = await page.request.post('/api/v1/sessions', {
    data: { workflow_id: 'quick-brief', title: 'Often Read', idea: 'Read many times to fill the log.' },
  });
  expect(created.status()).toBe(201);
  const { id } = (await created.json()) as { id: string };
  for (let i = 0; i < 30; i++) expect((await page.request.get(`/api/v1/sessions/${id}`)).ok()).toBe(true);

  await page.goto('/account');
  const section = page.getByRole('region', { name: 'Access log', exact: true });
  const entries = section.getByTestId('access-log-entry');
  await expect(entries).toHaveCount(25);
  await section.getByRole('button', { name: 'Load more' }).click();
  await expect(section.getByRole('status')).toContainText('older entries shown');
  expect(await entries.count()).toBeGreaterThan(25);
  // Newest first, and no entry twice.
  const actions = await entries.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
  expect(actions.filter((a) => a === 'sessions.read').length).toBeGreaterThanOrEqual(30);
});
