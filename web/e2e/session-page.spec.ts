import type { Page } from '@playwright/test';
import { createSession, expect, serverMessages, test, waitForReplies } from './fixtures';

// The offline planner writes slowly here, so what happens while a reply streams can be watched.
test.use({ tokensPerSecond: 80 });

/** How far the conversation's list is from its end, in pixels. */
const distanceFromEnd = (page: Page) =>
  page.getByRole('list', { name: 'Messages' }).evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);

test.describe('desktop, 1280×800', () => {
  test.use({ viewport: { width: 1280, height: 800 } });

  test('the chat is a full-height column with the composer in view; the page itself does not scroll, the document pane does', async ({
    signedIn: page,
  }) => {
    const { id } = await createSession(page, { workflow_id: 'product-plan', title: 'Layout Plan' });
    await page.goto(`/sessions/${id}`);
    await expect(page.getByTestId('message')).toHaveCount(1);

    const composer = page.getByLabel('Your message');
    const box = (await composer.boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(800);
    const chat = (await page.locator('.pane-chat').boundingBox())!;
    // Not a fixed small box: the chat column reaches (almost) the bottom of the window.
    expect(chat.y + chat.height).toBeGreaterThan(740);
    expect(await page.evaluate(() => document.documentElement.scrollHeight - window.innerHeight)).toBeLessThanOrEqual(1);

    // Fill the document: it scrolls inside its own pane while the composer stays put.
    await composer.fill('draft the rest');
    await composer.press('Enter');
    await waitForReplies(page, id, 3);
    await expect(page.locator('.empty-section')).toHaveCount(0);
    const pane = page.locator('.pane-document');
    expect(await pane.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
    await pane.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    expect(await pane.evaluate((el) => el.scrollTop)).toBeGreaterThan(0);
    expect((await composer.boundingBox())!.y).toBeCloseTo(box.y, 0);
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
  });

  test('the chat follows a streaming reply to its end, and stays where the person scrolled to', async ({ signedIn: page }) => {
    const { id } = await createSession(page, { workflow_id: 'product-plan', title: 'Scroll Plan' });
    await page.goto(`/sessions/${id}`);
    const composer = page.getByLabel('Your message');
    // Enough conversation to overflow the list.
    for (const [i, answer] of ['Families who cook together.', 'Shared shopping lists.'].entries()) {
      await composer.fill(answer);
      await composer.press('Enter');
      // The introduction, then a message and its reply per answer.
      await waitForReplies(page, id, 3 + 2 * i);
    }
    const list = page.getByRole('list', { name: 'Messages' });
    expect(await list.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);

    await composer.fill('draft the rest');
    await composer.press('Enter');
    const live = page.getByTestId('live-reply');
    await expect(live).toContainText('Here are drafts');
    // While the text grows, the end stays in view.
    for (let i = 0; i < 4; i++) {
      await page.waitForTimeout(250);
      expect(await distanceFromEnd(page)).toBeLessThanOrEqual(60);
    }
    // Scrolled up to read: the list stays there and offers the way back.
    await list.evaluate((el) => el.scrollTo(0, 0));
    await expect(page.getByRole('button', { name: /Jump to the latest/ })).toBeVisible();
    await page.waitForTimeout(600);
    expect(await list.evaluate((el) => el.scrollTop)).toBe(0);
    await page.getByRole('button', { name: /Jump to the latest/ }).click();
    expect(await distanceFromEnd(page)).toBeLessThanOrEqual(60);
    await waitForReplies(page, id, 7);
  });

  test('"Complete step" says how many sections are left and offers to draft them; drafting shows placeholders that fill in while the progress moves', async ({
    signedIn: page,
  }) => {
    const { id } = await createSession(page, { workflow_id: 'product-plan', title: 'Progress Plan' });
    await page.goto(`/sessions/${id}`);
    const complete = page.getByRole('button', { name: /Complete step/ });
    await expect(complete).toContainText('8 sections left');
    await complete.click();
    const offer = page.getByTestId('step-offer');
    await expect(offer).toContainText('Executive summary');
    // No request was refused: the step is still current, and no error is shown.
    await expect(page.locator('.steps [role=alert]')).toHaveCount(0);

    const progress = page.getByTestId('progress');
    const before = Number(await progress.getAttribute('value'));
    await offer.getByRole('button', { name: 'Draft the rest' }).click();
    // At once, before the agent's first word: every empty section says it is being drafted.
    await expect(page.getByTestId('drafting-placeholder')).toHaveCount(8, { timeout: 2_000 });
    await expect(page.getByTestId('progress-text')).toContainText('the agent is drafting');

    // Sections fill in one after another, and the progress bar moves with them.
    const seen = new Set<number>();
    await expect
      .poll(
        async () => {
          seen.add(Number(await progress.getAttribute('value')));
          return page.locator('[data-testid=doc-section][data-drafting=true]').count();
        },
        { timeout: 30_000, intervals: [100] },
      )
      .toBeGreaterThan(0);
    await expect(page.getByTestId('drafting-placeholder')).not.toHaveCount(8);
    // The progress is sampled until the last placeholder is filled, so the values between the
    // start and the end are seen whatever the machine's speed.
    await expect
      .poll(
        async () => {
          seen.add(Number(await progress.getAttribute('value')));
          return page.getByTestId('drafting-placeholder').count();
        },
        { timeout: 30_000, intervals: [100] },
      )
      .toBe(0);
    await waitForReplies(page, id, 3);
    await expect(page.getByTestId('drafting-placeholder')).toHaveCount(0);
    await expect(page.locator('.empty-section')).toHaveCount(0);
    await expect(progress).toHaveAttribute('value', String(before + 8));
    const between = [...seen].filter((v) => v > before && v < before + 8);
    expect(between.length).toBeGreaterThan(0);
    await expect(complete).not.toContainText('left');
  });

  test('completing a step brings the next role in, its document tab and the stepper, without a reload', async ({ signedIn: page }) => {
    const { id } = await createSession(page, { workflow_id: 'product-plan', title: 'Next Step Plan' });
    await page.goto(`/sessions/${id}`);
    await page.getByRole('button', { name: 'Draft the rest' }).first().click();
    await waitForReplies(page, id, 3);
    await expect(page.getByRole('button', { name: /Complete step/ })).not.toContainText('left');
    const navigations: string[] = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()));

    await page.getByRole('button', { name: /Complete step: Project brief/ }).click();
    await expect(page.getByTestId('step').first()).toHaveAttribute('data-status', 'completed');
    await expect(page.getByTestId('step').nth(1)).toHaveAttribute('data-status', 'current');
    // The next role's introduction is in the chat, and its document is open.
    const items = await serverMessages(page.request, id);
    expect(items).toHaveLength(4);
    await expect(page.getByTestId('message')).toHaveCount(4);
    await expect(page.getByTestId('message').last()).toContainText(items[3].content.split('\n')[0].replace(/[*_#`]/g, '').trim().slice(0, 30));
    const docs = (await (await page.request.get(`/api/v1/sessions/${id}/documents`)).json()).items as { title: string; step_id: string }[];
    const session = await (await page.request.get(`/api/v1/sessions/${id}`)).json();
    const nextDoc = docs.find((d) => d.step_id === session.current_step)!;
    await expect(page.locator('#doc-title')).toHaveText(nextDoc.title);
    await expect(page.getByRole('group', { name: 'Documents' }).getByRole('button', { name: nextDoc.title })).toHaveAttribute('aria-pressed', 'true');
    await expect(page.getByRole('button', { name: /Complete step/ })).toContainText('sections left');
    expect(navigations).toEqual([]);
  });
});
