import { expect, test } from '@playwright/test';
import { startServer } from './server';
import { giveConsent, uniqueEmail } from './fixtures';

// This test needs the server to really go away (not only the browser's offline switch), so it
// runs its own server and restarts it on the same address with the same database.
test('offline reload: the service worker opens the app, seen sessions stay readable, a queued message survives and is sent when back', async ({
  browser,
}) => {
  test.setTimeout(90_000);
  let server = await startServer({ tokensPerSecond: 200 });
  const context = await browser.newContext({ baseURL: server.url });
  try {
    const page = await context.newPage();
    const email = uniqueEmail();
    expect((await page.request.post('/api/v1/auth/register', { data: { email, password: 'correct horse battery' } })).status()).toBe(201);
    await giveConsent(page.request);
    const session = await (
      await page.request.post('/api/v1/sessions', {
        data: { workflow_id: 'quick-brief', title: 'Trail Journal', idea: 'Hikers keep a shared journal of trails and conditions.' },
      })
    ).json();

    // Online: open the list and the session once (the app keeps what it has seen).
    await page.goto('/');
    await expect(page.getByRole('link', { name: 'Trail Journal' })).toBeVisible();
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await page.getByRole('link', { name: 'Trail Journal' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Trail Journal' })).toBeVisible();
    await expect(page.getByTestId('message')).toHaveCount(1);
    await expect(page.getByTestId('doc-section').first()).toBeVisible();
    await expect.poll(() => page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);

    // The server goes away and the browser is offline.
    const listen = new URL(server.url).host;
    await server.stop({ keepData: true });
    await context.setOffline(true);

    await page.reload();
    await expect(page.getByRole('heading', { level: 1, name: 'Trail Journal' })).toBeVisible();
    await expect(page.getByTestId('saved-copy').first()).toBeVisible();
    await expect(page.getByTestId('message')).toHaveCount(1);
    await expect(page.getByTestId('doc-section').first()).toBeVisible();
    await expect(page.getByTestId('connection-banner')).toHaveAttribute('data-state', 'offline');

    // Write offline, then reload again: the message is still there, pending.
    await page.getByLabel('Your message').fill('Written on the trail without signal.');
    await page.getByLabel('Your message').press('Enter');
    await expect(page.getByTestId('pending-message')).toHaveCount(1);
    await page.reload();
    await expect(page.getByTestId('pending-message')).toContainText('Written on the trail without signal.');

    // The list opens offline too.
    await page.getByRole('link', { name: 'Sessions' }).click();
    await expect(page.getByRole('link', { name: 'Trail Journal' })).toBeVisible();
    await page.getByRole('link', { name: 'Trail Journal' }).click();

    // Back: the server returns on the same address with the same data; the message goes out.
    server = await startServer({ tokensPerSecond: 200, dataDir: server.dataDir, listen });
    await context.setOffline(false);
    await expect(page.getByTestId('pending-message')).toHaveCount(0, { timeout: 30_000 });
    await expect(page.getByTestId('message').filter({ hasText: 'Written on the trail without signal.' })).toHaveCount(1);
    await expect(page.getByTestId('message').last()).toHaveAttribute('data-status', 'complete', { timeout: 30_000 });
    const messages = (await (await page.request.get(`/api/v1/sessions/${session.id}/messages`)).json()).items;
    expect(messages.filter((m: { role: string }) => m.role === 'user').map((m: { content: string }) => m.content)).toEqual([
      'Written on the trail without signal.',
    ]);
  } finally {
    await context.close();
    await server.stop();
  }
});


test('server restart mid-reply: the interrupted reply keeps its text, and "Try the reply again" restarts it to completion', async ({
  browser,
}) => {
  test.setTimeout(90_000);
  let server = await startServer({ tokensPerSecond: 20 });
  const context = await browser.newContext({ baseURL: server.url });
  try {
    const page = await context.newPage();
    expect((await page.request.post('/api/v1/auth/register', { data: { email: uniqueEmail(), password: 'correct horse battery' } })).status()).toBe(201);
    await giveConsent(page.request);
    const session = await (
      await page.request.post('/api/v1/sessions', { data: { workflow_id: 'quick-brief', title: 'Restart Check', idea: 'A tool to plan weekly dinners.' } })
    ).json();
    await page.goto(`/sessions/${session.id}`);
    await page.getByLabel('Your message').fill('It helps busy parents plan dinners for the week.');
    await page.getByLabel('Your message').press('Enter');
    const live = page.getByTestId('live-reply');
    await expect(live).toContainText(/\w+ \w+ \w+/);

    // The server stops in the middle of the reply (it marks the reply interrupted) and comes back.
    const listen = new URL(server.url).host;
    await server.stop({ keepData: true });
    await expect(page.getByTestId('connection-banner')).toHaveAttribute('data-state', /reconnecting|offline/);
    server = await startServer({ tokensPerSecond: 200, dataDir: server.dataDir, listen });

    const reply = page.getByTestId('message').last();
    await expect(reply).toHaveAttribute('data-status', 'interrupted', { timeout: 30_000 });
    await expect(reply.locator('.markdown')).not.toBeEmpty();
    await reply.getByRole('button', { name: 'Try the reply again' }).click();
    await expect(reply).toHaveAttribute('data-status', 'complete', { timeout: 30_000 });

    const messages = (await (await page.request.get(`/api/v1/sessions/${session.id}/messages`)).json()).items as {
      id: string;
      content: string;
      status: string;
    }[];
    const last = messages.at(-1)!;
    expect(last.status).toBe('complete');
    type Hooks = { __plansmith: { streamText(id: string): string | null } };
    expect(await page.evaluate((id) => (window as unknown as Hooks).__plansmith.streamText(id), last.id)).toBe(last.content);
    await expect(page.getByTestId('connection-banner')).not.toHaveAttribute('data-state', /reconnecting|offline/);
  } finally {
    await context.close();
    await server.stop();
  }
});
