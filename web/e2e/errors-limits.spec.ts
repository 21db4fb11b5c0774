import { createSession, expect, test } from './fixtures';

const errorBody = (status: number, code: string, message: string, hint: string) => ({
  status,
  contentType: 'application/json',
  headers: { 'x-request-id': 'req-e2e-1' },
  body: JSON.stringify({ error: { code, message, hint, request_id: 'req-e2e-1' } }),
});

test('a wrong password reads as a plain sentence: no request id, no support address', async ({ page, account }) => {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible();
  await expect(alert).not.toContainText('Request id');
  await expect(alert).not.toContainText('support');
  await expect(alert).not.toContainText(/\w+: /);
});

test('a wait is said in words ("about 15 minutes"), and a fault of the server gives the request id', async ({ page, account }) => {
  await page.route('**/api/v1/auth/login', (route) =>
    route.fulfill({ ...errorBody(429, 'rate_limited', 'Too many sign-in attempts.', 'Wait 895 seconds and try again.'), headers: { 'retry-after': '895' } }),
  );
  await page.goto('/signin');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Wait about 15 minutes and try again.');
  await expect(page.getByRole('alert')).not.toContainText('895');

  await page.unroute('**/api/v1/auth/login');
  await page.route('**/api/v1/auth/login', (route) =>
    route.fulfill(errorBody(500, 'internal_error', 'Something went wrong on our side.', 'Try again in a moment. If it keeps happening, contact support@plansmith.dev and quote the request id.')),
  );
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Request id req-e2e-1');
});

test('new session: a long title is kept whole with a counter and refused next to the field; an empty one too', async ({ signedIn: page }) => {
  await page.goto('/sessions/new');
  const title = page.getByLabel('Title');
  const long = 'Shared family recipe planner with weekly menus '.repeat(5); // 235 characters
  await title.fill(long);
  expect(await title.inputValue()).toBe(long);
  await expect(page.getByTestId('char-counter')).toContainText('over the limit of 200');
  await page.getByLabel('Your idea').fill('Families plan meals together.');
  await page.getByRole('button', { name: 'Start session' }).click();
  await expect(page.locator('#title-error')).toContainText('at most 200 characters');
  await expect(title).toHaveAttribute('aria-invalid', 'true');
  await expect(title).toBeFocused();
  await expect(page).toHaveURL(/\/sessions\/new$/);

  // Blank after trimming: said in words under the field, not "title: must not be empty".
  await title.fill('   ');
  await page.getByRole('button', { name: 'Start session' }).click();
  await expect(page.locator('#title-error')).toHaveText('Give the session a title.');
  await expect(page.locator('body')).not.toContainText('must not be empty');
});

test('the composer counts near the limit, keeps an over-long message instead of sending it, and a refused message can be edited', async ({
  signedIn: page,
}) => {
  const { id } = await createSession(page, { title: 'Limits Plan' });
  await page.goto(`/sessions/${id}`);
  const composer = page.getByLabel('Your message');
  const long = 'word '.repeat(5_200); // 26,000 characters
  await composer.fill(long);
  await expect(page.getByTestId('char-counter')).toContainText('over the limit of 20,000');
  await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
  await composer.press('Enter');
  expect(await composer.inputValue()).toBe(long);
  await expect(page.getByTestId('pending-message')).toHaveCount(0);

  // A refusal from the server (here a stand-in for a deployment with a lower limit): the text is
  // not lost; "Edit" puts it back into the composer.
  await page.route(`**/api/v1/sessions/${id}/messages`, (route) =>
    route.request().method() === 'POST'
      ? route.fulfill(errorBody(400, 'invalid_field', 'content: is longer than 100 characters', 'Shorten the message.'))
      : route.fallback(),
  );
  const refused = 'A message the server refuses, to be edited and sent again.';
  await composer.fill(refused);
  await composer.press('Enter');
  const pending = page.getByTestId('pending-message');
  await expect(pending).toHaveAttribute('data-state', 'failed');
  await expect(pending).toContainText('Content is longer than 100 characters.');
  await expect(pending.getByRole('button', { name: 'Discard' })).toBeVisible();
  await pending.getByRole('button', { name: 'Edit' }).click();
  await expect(pending).toHaveCount(0);
  await expect(composer).toHaveValue(refused);
  await expect(composer).toBeFocused();
});

test('sign-up: a password the server refuses is explained under the password field', async ({ page }) => {
  await page.goto('/signup');
  await page.getByLabel('Email').fill(`common-${Date.now()}@example.com`);
  await page.getByLabel('Password').fill('password123');
  await page.getByRole('button', { name: 'Create account' }).click();
  const note = page.locator('#password-error');
  await expect(note).toContainText('The password is one of the most common passwords.');
  await expect(page.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('body')).not.toContainText('password: ');
});
