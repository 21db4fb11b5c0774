import { createSession, expect, test, waitForReplies } from './fixtures';

const WIDE_TABLE = [
  '| Risk | Likelihood | Impact | Owner | Mitigation | Review date | Status | Notes |',
  '|---|---|---|---|---|---|---|---|',
  '| Families do not adopt the shared list | Medium | High | Product | Interview twenty families before building | 2026-04-01 | Open | Recruit through schools and sports clubs |',
  '| Recipe import breaks on popular sites | High | Medium | Engineering | Keep a manual entry path and monitor imports | 2026-05-15 | Open | Start with the five largest recipe sites |',
].join('\n');

test.describe('phone, 390×844', () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  test('chat and document are tabs, the idea is folded, the composer is on the first screen', async ({ signedIn: page }) => {
    const { id } = await createSession(page, {
      workflow_id: 'product-plan',
      title: 'Phone Plan',
      idea: 'Families share recipes and plan weekly meals together. '.repeat(12),
    });
    await page.goto(`/sessions/${id}`);
    await expect(page.getByTestId('message')).toHaveCount(1);

    const composer = page.getByLabel('Your message');
    await expect(composer).toBeVisible();
    const box = (await composer.boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(844);
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    // Nothing wider than the phone.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    // The idea is one folded line until opened.
    const idea = page.locator('details.idea');
    await expect(idea).not.toHaveAttribute('open', '');
    await idea.locator('summary').click();
    await expect(page.locator('.idea-full')).toBeVisible();
    await idea.locator('summary').click();

    const chatTab = page.getByRole('tab', { name: 'Chat' });
    const docTab = page.getByRole('tab', { name: /Document/ });
    await expect(chatTab).toHaveAttribute('aria-selected', 'true');
    await expect(page.getByTestId('doc-section').first()).toBeHidden();
    await docTab.click();
    await expect(docTab).toHaveAttribute('aria-selected', 'true');
    await expect(page.getByTestId('doc-section').first()).toBeVisible();
    await expect(composer).toBeHidden();
    // Arrow keys move between the tabs.
    await docTab.press('ArrowLeft');
    await expect(chatTab).toBeFocused();
    await expect(chatTab).toHaveAttribute('aria-selected', 'true');
    await expect(composer).toBeVisible();
  });

  test('a wide table in a section scrolls sideways inside its box, not the page', async ({ signedIn: page }) => {
    const { id } = await createSession(page, { workflow_id: 'product-plan', title: 'Table Plan' });
    const docs = (await (await page.request.get(`/api/v1/sessions/${id}/documents`)).json()).items as { id: string; revision: number }[];
    const doc = await (await page.request.get(`/api/v1/sessions/${id}/documents/${docs[0].id}`)).json();
    const put = await page.request.put(`/api/v1/sessions/${id}/documents/${doc.id}/sections/${doc.sections[0].id}`, {
      data: { content: WIDE_TABLE, base_revision: doc.revision },
    });
    expect(put.ok()).toBeTruthy();
    await page.goto(`/sessions/${id}`);
    await page.getByRole('tab', { name: /Document/ }).click();
    const box = page.locator('.table-scroll').first();
    await expect(box).toBeVisible();
    expect(await box.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // Keyboard users can scroll it too.
    await box.focus();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => box.evaluate((el) => el.scrollLeft)).toBeGreaterThan(0);
  });

  test('drafting from the phone: the document tab says it is drafting, and has the drafts after', async ({ signedIn: page }) => {
    const { id } = await createSession(page, { workflow_id: 'quick-brief', title: 'Phone Drafts' });
    await page.goto(`/sessions/${id}`);
    await page.getByRole('button', { name: 'Draft the rest' }).first().click();
    await expect(page.getByRole('tab', { name: /Document/ })).toContainText('drafting');
    await waitForReplies(page, id, 3);
    await page.getByRole('tab', { name: /Document/ }).click();
    await expect(page.locator('.empty-section')).toHaveCount(0);
    await expect(page.getByRole('tab', { name: /Document/ })).not.toContainText('drafting');
  });
});
