import { acceptConsentNotice, createSession, expect, serverMessages, test, uniqueEmail, waitForReplies } from './fixtures';

test('whole session flow: sign up, start, chat with streaming, documents, edit, history, restore, export, steps', async ({ page }) => {
  // Sign up through the UI, from the front page.
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: /Plan your software project/ })).toBeVisible();
  await page.getByRole('link', { name: 'Create a free account' }).click();
  await page.getByLabel('Name (optional)').fill('Ada');
  await page.getByLabel('Email').fill(uniqueEmail());
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();

  // New session with the product-plan workflow.
  await page.getByRole('link', { name: 'New session' }).first().click();
  await page.getByLabel(/Product plan/i).check();
  await page.getByLabel('Title').fill('Recipe Box');
  await page.getByLabel('Your idea').fill('Families share recipes and plan weekly meals with a shared shopping list.');
  await page.getByRole('button', { name: 'Start session' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Recipe Box' })).toBeVisible();
  const sessionId = page.url().split('/').pop()!;

  // The agent's first message (intro and questions) is there.
  const messages = page.getByTestId('message');
  await expect(messages.first()).toHaveAttribute('data-role', 'assistant');
  await expect(page.getByTestId('step').first()).toHaveAttribute('data-status', 'current');

  // Completing the step too early says what is left and offers to draft it, without failing.
  await expect(page.getByRole('button', { name: /Complete step/ })).toContainText('8 sections left');
  await page.getByRole('button', { name: /Complete step/ }).click();
  const offer = page.getByTestId('step-offer');
  await expect(offer).toContainText('8 sections of the Project brief are still empty');
  await expect(page.locator('.steps [role=alert]')).toHaveCount(0);

  // Ask for drafts (a new account agrees to the model-provider notice first): the reply streams
  // token by token and sections light up.
  await page.getByLabel('Your message').fill('draft the rest');
  await page.getByLabel('Your message').press('Enter');
  await acceptConsentNotice(page);
  const live = page.getByTestId('live-reply');
  await expect(live).toBeVisible();
  await expect(live).toHaveAttribute('data-stream-status', /open|connecting/);
  await expect(page.locator('[data-testid=doc-section][data-fresh=true]').first()).toBeVisible({ timeout: 30_000 });
  await waitForReplies(page, sessionId, 3);
  await expect(page.getByTestId('live-reply')).toHaveCount(0);
  await expect(page.locator('.empty-section')).toHaveCount(0);
  const last = (await serverMessages(page.request, sessionId)).at(-1)!;
  expect(last.role).toBe('assistant');
  await expect(messages.last()).toContainText(last.content.split('\n')[0].replace(/[*_#`]/g, '').trim().slice(0, 30));

  // Edit a section directly: it makes exactly one new revision.
  const revisionText = page.locator('.document .sections > p.muted');
  await expect(revisionText).toHaveText(/Revision \d+/);
  const beforeEdit = Number((await revisionText.textContent())!.match(/\d+/)![0]);
  const firstSection = page.getByTestId('doc-section').first();
  const sectionTitle = (await firstSection.locator('h3').textContent())!;
  await firstSection.getByRole('button', { name: `Edit ${sectionTitle}` }).click();
  await firstSection.getByRole('textbox').fill('Our own words about the problem.\n\nSecond paragraph.');
  await firstSection.getByRole('button', { name: 'Save section' }).click();
  await expect(firstSection).toContainText('Our own words about the problem.');
  await expect(firstSection.getByTestId('pending-edit')).toHaveCount(0);
  // Wait for the saved revision to show (reading the label at once could see the old one).
  const afterEdit = beforeEdit + 1;
  await expect(revisionText).toHaveText(`Revision ${afterEdit}`);

  // History: the diff of the previous revision, then restore it.
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByRole('button', { name: new RegExp(`Revision ${afterEdit - 1}\\b`) }).click();
  const diff = page.getByTestId('revision-diff');
  await expect(diff.locator('.diff-added')).toContainText(['Our own words about the problem.']);
  await diff.getByRole('button', { name: `Restore revision ${afterEdit - 1}` }).click();
  await diff.getByRole('button', { name: `Yes, restore revision ${afterEdit - 1}` }).click();
  await expect(revisionText).toHaveText(`Revision ${afterEdit + 1}`);
  await expect(firstSection).not.toContainText('Our own words about the problem.');

  // Export as Markdown.
  const href = await page.getByRole('link', { name: 'Export Markdown' }).getAttribute('href');
  const exported = await page.request.get(href!);
  expect(exported.ok()).toBeTruthy();
  expect(exported.headers()['content-type']).toContain('text/markdown');
  expect(await exported.text()).toContain(sectionTitle);

  // Every section has content now: the step completes and the next one is current.
  await page.getByRole('button', { name: /Complete step/ }).click();
  await expect(page.getByTestId('step').first()).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('step').nth(1)).toHaveAttribute('data-status', 'current');
  await expect(page.getByRole('button', { name: 'Documents' }).or(page.getByRole('group', { name: 'Documents' }))).toBeVisible();

  // The list shows the session with its progress.
  await page.getByRole('link', { name: 'Sessions' }).click();
  const card = page.locator('.session-card', { hasText: 'Recipe Box' });
  await expect(card).toBeVisible();
  await expect(card.getByRole('progressbar')).toHaveAttribute('value', /0\.\d+/);

  // Sign out and back in.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin/);
});

test('an existing session opens from the list', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Garden Planner' });
  await page.reload();
  await page.getByRole('link', { name: 'Garden Planner' }).click();
  await expect(page).toHaveURL(new RegExp(`/sessions/${id}$`));
  await expect(page.getByRole('heading', { level: 1, name: 'Garden Planner' })).toBeVisible();
});

test('the session list pages through more than one page of sessions, newest first', async ({ signedIn: page }) => {
  for (let i = 1; i <= 23; i++) await createSession(page, { title: `Plan ${String(i).padStart(2, '0')}` });
  await page.reload();
  const cards = page.locator('.session-card');
  await expect(cards).toHaveCount(20);
  await expect(cards.first()).toContainText('Plan 23');
  await page.getByRole('button', { name: 'Show more sessions' }).click();
  await expect(cards).toHaveCount(23);
  await expect(cards.last()).toContainText('Plan 01');
  await expect(page.getByRole('button', { name: 'Show more sessions' })).toHaveCount(0);
});
