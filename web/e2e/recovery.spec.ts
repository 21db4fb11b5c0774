import { createSession, expect, giveConsent, serverMessages, test, uniqueEmail, waitForReplies } from './fixtures';
import { startProxy } from './proxy';

// Slow replies, so that there is time to cut the connection in the middle of one.
test.use({ tokensPerSecond: 25 });

const ANSWER = 'It helps busy parents plan a week of dinners in ten minutes, shared with the whole family.';

type Hooks = { __plansmith: { dropStreams(): void; streamText(id: string): string | null } };

test('a dropped stream reconnects with backoff and resumes from the last event id: no text doubled or missing', async ({
  signedIn: page,
  context,
}) => {
  const { id } = await createSession(page);
  const streamRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/stream')) streamRequests.push(r.url());
  });
  await page.goto(`/sessions/${id}`);
  await page.getByLabel('Your message').fill(ANSWER);
  await page.getByLabel('Your message').press('Enter');
  const live = page.getByTestId('live-reply');
  await expect(live).toContainText(/\w+ \w+ \w+/);

  // The network goes away in the middle of the reply.
  await context.setOffline(true);
  await page.evaluate(() => (window as unknown as Hooks).__plansmith.dropStreams());
  await expect(live).toHaveAttribute('data-stream-status', 'reconnecting');
  await expect(page.getByTestId('connection-banner')).toHaveAttribute('data-state', /offline|reconnecting/);
  await page.waitForTimeout(2000); // the server keeps writing the reply meanwhile
  await context.setOffline(false);

  await waitForReplies(page, id, 3);
  const reply = (await serverMessages(page.request, id)).at(-1)!;
  expect(reply.role).toBe('assistant');
  await expect.poll(() => page.evaluate((rid) => (window as unknown as Hooks).__plansmith.streamText(rid), reply.id)).toBe(reply.content);
  expect(streamRequests.some((u) => /[?&]after=[1-9]\d*/.test(u))).toBe(true);
  await expect(page.getByTestId('connection-banner')).not.toHaveAttribute('data-state', /offline|reconnecting/);
  await expect(page.getByTestId('message').last()).toHaveAttribute('data-status', 'complete');
});

test('a real connection reset in the middle of a reply (network cut at a proxy) resumes with exactly the server text', async ({
  browser,
  server,
}) => {
  const proxy = await startProxy(server.url);
  const context = await browser.newContext({ baseURL: proxy.url });
  try {
    const page = await context.newPage();
    expect((await page.request.post('/api/v1/auth/register', { data: { email: uniqueEmail(), password: 'correct horse battery' } })).status()).toBe(201);
    await giveConsent(page.request);
    const { id } = await createSession(page);
    const streamRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/stream')) streamRequests.push(r.url());
    });
    await page.goto(`/sessions/${id}`);
    await page.getByLabel('Your message').fill(ANSWER);
    await page.getByLabel('Your message').press('Enter');
    const live = page.getByTestId('live-reply');
    await expect(live).toContainText(/\w+ \w+ \w+/);

    proxy.cut();
    await expect(live).toHaveAttribute('data-stream-status', 'reconnecting');
    await expect(page.getByTestId('connection-banner')).toHaveAttribute('data-state', /reconnecting|offline/);
    await page.waitForTimeout(2500);
    proxy.restore();

    await waitForReplies(page, id, 3);
    const reply = (await serverMessages(page.request, id)).at(-1)!;
    await expect.poll(() => page.evaluate((rid) => (window as unknown as Hooks).__plansmith.streamText(rid), reply.id)).toBe(reply.content);
    expect(streamRequests.some((u) => /[?&]after=[1-9]\d*/.test(u))).toBe(true);
    await expect(page.getByTestId('message').last()).toHaveAttribute('data-status', 'complete');
    await expect(page.getByTestId('connection-banner')).not.toHaveAttribute('data-state', /offline|reconnecting/);
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('reloading the page mid-reply shows the text so far and continues', async ({ signedIn: page }) => {
  const { id } = await createSession(page);
  await page.goto(`/sessions/${id}`);
  await page.getByLabel('Your message').fill(ANSWER);
  await page.getByLabel('Your message').press('Enter');
  const live = page.getByTestId('live-reply');
  await expect(live).toContainText(/\w+ \w+ \w+/);
  const before = (await live.locator('.markdown').textContent()) ?? '';

  await page.reload();
  const again = page.getByTestId('live-reply');
  await expect(again).toBeVisible();
  await expect(again).toContainText(before.trim().slice(0, 20));
  await waitForReplies(page, id, 3);
  const reply = (await serverMessages(page.request, id)).at(-1)!;
  await expect.poll(() => page.evaluate((rid) => (window as unknown as Hooks).__plansmith.streamText(rid), reply.id)).toBe(reply.content);
});

test('a message sent offline is queued, shown as pending and delivered once after reconnect', async ({ signedIn: page, context }) => {
  const { id } = await createSession(page);
  await page.goto(`/sessions/${id}`);
  await expect(page.getByTestId('message')).toHaveCount(1);

  await context.setOffline(true);
  await expect(page.getByTestId('connection-banner')).toHaveAttribute('data-state', 'offline');
  await page.getByLabel('Your message').fill('Offline answer: the family shares one list.');
  await page.getByLabel('Your message').press('Enter');
  await page.getByLabel('Your message').fill('Second offline message.');
  await page.getByRole('button', { name: 'Send' }).click();
  const pending = page.getByTestId('pending-message');
  await expect(pending).toHaveCount(2);
  await expect(pending.first()).toContainText('Waiting to send');
  await expect(page.getByTestId('connection-banner')).toContainText('2 changes');
  // Nothing reached the server while offline.
  expect((await serverMessages(page.request, id)).filter((m) => m.role === 'user')).toHaveLength(0);

  await context.setOffline(false);
  await expect(pending).toHaveCount(0, { timeout: 20_000 });
  await waitForReplies(page, id, 5);
  const users = (await serverMessages(page.request, id)).filter((m) => m.role === 'user').map((m) => m.content);
  expect(users).toEqual(['Offline answer: the family shares one list.', 'Second offline message.']);
  await expect(page.getByTestId('message').filter({ hasText: 'Offline answer' })).toHaveCount(1);
});

test('a section edited offline is saved after reconnect, and a conflicting edit shows both versions to choose from', async ({
  signedIn: page,
  context,
}) => {
  const { id } = await createSession(page);
  await page.goto(`/sessions/${id}`);
  const sections = page.getByTestId('doc-section');
  await expect(sections.first()).toBeVisible();
  const first = sections.nth(0);
  const second = sections.nth(1);
  const firstId = (await first.getAttribute('data-section-id'))!;

  await context.setOffline(true);
  await first.getByRole('button', { name: /^Edit / }).click();
  await first.getByRole('textbox').fill('Mine, written offline.');
  await first.getByRole('button', { name: 'Save section' }).click();
  await second.getByRole('button', { name: /^Edit / }).click();
  await second.getByRole('textbox').fill('Second section, offline too.');
  await second.getByRole('button', { name: 'Save section' }).click();
  await expect(page.getByTestId('pending-edit')).toHaveCount(2);
  await expect(first.getByTestId('pending-edit')).toContainText('sent when online');

  // Meanwhile someone (another tab) changes the first section on the server.
  const docs = await (await page.request.get(`/api/v1/sessions/${id}/documents`)).json();
  const docId = docs.items[0].id;
  const put = await page.request.put(`/api/v1/sessions/${id}/documents/${docId}/sections/${firstId}`, {
    data: { content: 'Theirs, written elsewhere.', base_revision: docs.items[0].revision },
  });
  expect(put.ok()).toBeTruthy();

  await context.setOffline(false);
  const conflict = page.getByTestId('conflict');
  await expect(conflict).toBeVisible();
  await expect(conflict).toContainText('Mine, written offline.');
  await expect(conflict).toContainText('Theirs, written elsewhere.');
  // The edit of the other section was not in conflict: it is saved.
  await expect(second).toContainText('Second section, offline too.');
  await expect(page.getByTestId('pending-edit')).toHaveCount(0);

  await conflict.getByRole('button', { name: 'Keep my version' }).click();
  await expect(conflict).toHaveCount(0);
  await expect(first).toContainText('Mine, written offline.');
  await expect(page.getByTestId('pending-edit')).toHaveCount(0);
  const doc = await (await page.request.get(`/api/v1/sessions/${id}/documents/${docId}`)).json();
  const saved = Object.fromEntries(doc.sections.map((s: { id: string; content: string }) => [s.id, s.content]));
  expect(saved[firstId]).toBe('Mine, written offline.');
});
