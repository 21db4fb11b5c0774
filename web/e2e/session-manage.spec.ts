import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { createSession, expect, test } from './fixtures';

// Slow enough replies that one is still being written when a test asks to delete its session.
test.use({ tokensPerSecond: 40 });

/** Writes the first section of the first document through the API. */
async function writeFirstSection(page: Page, sessionId: string, content: string): Promise<string> {
  const docs = (await (await page.request.get(`/api/v1/sessions/${sessionId}/documents`)).json()).items as { id: string }[];
  const doc = await (await page.request.get(`/api/v1/sessions/${sessionId}/documents/${docs[0].id}`)).json();
  const res = await page.request.put(`/api/v1/sessions/${sessionId}/documents/${doc.id}/sections/${doc.sections[0].id}`, {
    data: { content, base_revision: doc.revision },
  });
  expect(res.ok()).toBeTruthy();
  return doc.sections[0].title as string;
}

test('rename from the session page: the new title everywhere, an empty one refused under the field', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Old Name' });
  await page.goto(`/sessions/${id}`);
  await page.getByRole('button', { name: 'Rename Old Name' }).click();
  const input = page.getByLabel('New title');
  await expect(input).toBeFocused();
  await expect(input).toHaveValue('Old Name');

  // The server's refusal (error.field = "title") under the input, without "title: ".
  await page.route(`**/api/v1/sessions/${id}`, async (route) => {
    if (route.request().method() !== 'PATCH') return route.fallback();
    // What the server answers to a title of spaces only, sent as the app would not send it.
    const response = await route.fetch({ postData: JSON.stringify({ title: '   ' }) });
    await route.fulfill({ response });
  });
  await input.fill('Refused Name');
  await page.getByRole('button', { name: 'Save title' }).click();
  const note = page.locator('.rename-form .field-error');
  await expect(note).toHaveText('The title is empty: write a few words. Give the session a title.');
  await expect(input).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('body')).not.toContainText('title: ');
  await page.unroute(`**/api/v1/sessions/${id}`);

  // The app's own check, before asking the server.
  await input.fill('  ');
  await page.getByRole('button', { name: 'Save title' }).click();
  await expect(note).toHaveText('Give the session a title.');

  await input.fill('  New Name  ');
  await page.getByRole('button', { name: 'Save title' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('New Name');
  await expect(page).toHaveTitle('New Name · Plansmith');
  await expect(page.getByRole('button', { name: 'Rename New Name' })).toBeFocused();
  expect((await (await page.request.get(`/api/v1/sessions/${id}`)).json()).title).toBe('New Name');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
  await expect(page.getByRole('link', { name: 'New Name' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Old Name' })).toHaveCount(0);
});

test('rename and delete from the sessions list: delete asks first, then the session is gone', async ({ signedIn: page }) => {
  await createSession(page, { title: 'Keep Me' });
  const { id } = await createSession(page, { title: 'Drop Me' });
  await page.reload();
  const card = page.locator('.session-card', { hasText: 'Drop Me' });

  await card.getByRole('button', { name: 'Rename Drop Me' }).click();
  await card.getByLabel('New title').fill('Drop Me Soon');
  await card.getByLabel('New title').press('Enter');
  await expect(page.getByRole('link', { name: 'Drop Me Soon' })).toBeVisible();

  const renamed = page.locator('.session-card', { hasText: 'Drop Me Soon' });
  await renamed.getByRole('button', { name: 'Delete Drop Me Soon' }).click();
  const question = renamed.getByTestId('delete-question');
  await expect(question).toContainText('Delete “Drop Me Soon”?');
  await expect(question).toContainText('cannot be undone');
  await question.getByRole('button', { name: 'Cancel' }).click();
  await expect(question).toHaveCount(0);
  expect((await page.request.get(`/api/v1/sessions/${id}`)).status()).toBe(200);

  await renamed.getByRole('button', { name: 'Delete Drop Me Soon' }).click();
  await renamed.getByRole('button', { name: 'Yes, delete it' }).click();
  await expect(page.getByTestId('deleted-note')).toHaveText('“Drop Me Soon” was deleted.');
  await expect(page.getByRole('link', { name: 'Drop Me Soon' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Keep Me' })).toBeVisible();
  expect((await page.request.get(`/api/v1/sessions/${id}`)).status()).toBe(404);
  // Not back after a reload either (no saved copy brings it back).
  await page.reload();
  await expect(page.getByRole('link', { name: 'Keep Me' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Drop Me Soon' })).toHaveCount(0);
});

test('delete from the session page leads back to the list; while the agent writes a reply it is refused in plain words', async ({
  signedIn: page,
}) => {
  const { id } = await createSession(page, { title: 'Busy Plan' });
  await page.goto(`/sessions/${id}`);
  await expect(page.getByTestId('message')).toHaveCount(1);
  // The server refuses while a reply is being written: 409 reply_in_progress.
  await page.route(`**/api/v1/sessions/${id}`, (route) =>
    route.request().method() === 'DELETE'
      ? route.fulfill({
          status: 409,
          contentType: 'application/json',
          body: JSON.stringify({
            error: {
              code: 'reply_in_progress',
              message: 'The planning agent is still writing a reply in this session.',
              hint: 'Wait until the reply is finished (a few seconds), then delete the session.',
              request_id: 'req-busy',
            },
          }),
        })
      : route.fallback(),
  );
  await page.getByRole('button', { name: 'Delete Busy Plan' }).click();
  await page.getByRole('button', { name: 'Yes, delete it' }).click();
  const question = page.getByTestId('delete-question');
  await expect(question.getByRole('alert')).toContainText('still writing a reply in this session, so it cannot be deleted yet');
  await expect(question.getByRole('alert')).toContainText('Wait until the reply is finished');
  await expect(question.getByRole('alert')).not.toContainText('reply_in_progress');
  await expect(page).toHaveURL(new RegExp(`/sessions/${id}$`));

  await page.unroute(`**/api/v1/sessions/${id}`);
  await question.getByRole('button', { name: 'Yes, delete it' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Your planning sessions' })).toBeVisible();
  await expect(page.getByTestId('deleted-note')).toHaveText('“Busy Plan” was deleted.');
  await expect(page.getByRole('link', { name: 'Busy Plan' })).toHaveCount(0);
  expect((await page.request.get(`/api/v1/sessions/${id}`)).status()).toBe(404);
});

test('the real server refuses to delete a session while its reply is being written', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Writing Plan' });
  await page.goto(`/sessions/${id}`);
  await expect(page.getByTestId('message')).toHaveCount(1);
  await page.getByLabel('Your message').fill('draft the rest');
  await page.getByLabel('Your message').press('Enter');
  // As soon as the reply streams, ask to delete.
  await expect(page.getByTestId('message')).toHaveCount(3);
  await page.getByRole('button', { name: 'Delete Writing Plan' }).click();
  await page.getByRole('button', { name: 'Yes, delete it' }).click();
  await expect(page.getByTestId('delete-question').getByRole('alert')).toContainText('cannot be deleted yet');
  expect((await page.request.get(`/api/v1/sessions/${id}`)).status()).toBe(200);
});

test('export the whole plan as Markdown and as Word, with the sign-in cookie', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Export Plan' });
  const sectionTitle = await writeFirstSection(page, id, 'Families forget what they planned to cook.');
  await page.goto(`/sessions/${id}`);
  const exportPlan = page.getByTestId('export-plan');
  await expect(exportPlan).toContainText('Export plan: Markdown · Word');

  const [md] = await Promise.all([page.waitForEvent('download'), exportPlan.getByRole('link', { name: 'Export the plan as Markdown' }).click()]);
  expect(md.suggestedFilename()).toMatch(/\.md$/);
  const markdown = readFileSync((await md.path())!, 'utf8');
  expect(markdown).toMatch(/^# Export Plan$/m);
  expect(markdown).toContain(`### ${sectionTitle}`);
  expect(markdown).toContain('Families forget what they planned to cook.');

  const [docx] = await Promise.all([page.waitForEvent('download'), exportPlan.getByRole('link', { name: 'Export the plan as Word' }).click()]);
  expect(docx.suggestedFilename()).toMatch(/\.docx$/);
  const bytes = readFileSync((await docx.path())!);
  expect(bytes.subarray(0, 2).toString('latin1')).toBe('PK');
  expect(bytes.length).toBeGreaterThan(1000);
});

test('offline, rename, delete and export are switched off with a note, and come back with the connection', async ({ signedIn: page, context }) => {
  const { id } = await createSession(page, { title: 'Offline Plan' });
  await page.goto(`/sessions/${id}`);
  await expect(page.getByTestId('message')).toHaveCount(1);
  const rename = page.getByRole('button', { name: 'Rename Offline Plan' });
  const del = page.getByRole('button', { name: 'Delete Offline Plan' });
  const exportPlan = page.getByTestId('export-plan');
  await expect(rename).toBeEnabled();
  await expect(exportPlan.getByRole('link')).toHaveCount(2);

  await context.setOffline(true);
  await expect(rename).toBeDisabled();
  await expect(del).toBeDisabled();
  await expect(page.getByText('Renaming and deleting need a connection.')).toBeVisible();
  await expect(exportPlan.getByRole('link')).toHaveCount(0);
  await expect(exportPlan).toContainText('Export plan: Markdown · Word');

  await context.setOffline(false);
  await expect(rename).toBeEnabled();
  await expect(del).toBeEnabled();
  await expect(exportPlan.getByRole('link')).toHaveCount(2);
  await expect(page.getByText('Renaming and deleting need a connection.')).toHaveCount(0);
});

test.describe('phone, 390×844', () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  test('export, rename and delete are reachable on the session page and the list, without sideways scrolling', async ({ signedIn: page }) => {
    const { id } = await createSession(page, { workflow_id: 'product-plan', title: 'Pocket Plan' });
    await page.goto(`/sessions/${id}`);
    await expect(page.getByTestId('message')).toHaveCount(1);
    for (const control of [
      page.getByRole('link', { name: 'Export the plan as Markdown' }),
      page.getByRole('link', { name: 'Export the plan as Word' }),
      page.getByRole('button', { name: 'Rename Pocket Plan' }),
      page.getByRole('button', { name: 'Delete Pocket Plan' }),
    ]) {
      await expect(control).toBeInViewport();
      const box = (await control.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(390);
    }
    // The composer is still on the first screen.
    const composer = (await page.getByLabel('Your message').boundingBox())!;
    expect(composer.y + composer.height).toBeLessThanOrEqual(844);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    const [md] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export the plan as Markdown' }).click()]);
    expect(readFileSync((await md.path())!, 'utf8')).toContain('# Pocket Plan');

    await page.getByRole('button', { name: 'Rename Pocket Plan' }).tap();
    await page.getByLabel('New title').fill('Pocket Plan Two');
    await expect(page.getByRole('button', { name: 'Save title' })).toBeInViewport();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.getByRole('button', { name: 'Save title' }).tap();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Pocket Plan Two');

    await page.getByRole('button', { name: 'Delete Pocket Plan Two' }).tap();
    await expect(page.getByRole('button', { name: 'Yes, delete it' })).toBeInViewport();
    await page.getByRole('button', { name: 'Yes, delete it' }).tap();
    await expect(page.getByTestId('deleted-note')).toHaveText('“Pocket Plan Two” was deleted.');

    await createSession(page, { title: 'Listed Pocket' });
    await page.reload();
    const card = page.locator('.session-card', { hasText: 'Listed Pocket' });
    await expect(card.getByRole('button', { name: 'Rename Listed Pocket' })).toBeVisible();
    await expect(card.getByRole('button', { name: 'Delete Listed Pocket' })).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});
