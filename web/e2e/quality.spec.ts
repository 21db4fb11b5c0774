import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { createSession, expect, test, waitForReplies } from './fixtures';

async function expectNoAxeViolations(page: Page) {
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);
}

test('rate a document, answer the survey of a completed session, and give the product-research consent', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { workflow_id: 'quick-brief', title: 'Quality Plan' });
  await page.goto(`/sessions/${id}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Quality Plan' })).toBeVisible();
  // Nothing to rate before the document has content.
  await expect(page.getByTestId('rate-document')).toHaveCount(0);

  // A reply writes the document.
  await page.getByLabel('Your message').fill('draft the rest');
  await page.getByLabel('Your message').press('Enter');
  await waitForReplies(page, id, 3);
  await expect(page.locator('.empty-section')).toHaveCount(0);

  // Rate it: 4 stars (by the keyboard from the first), useful, a comment.
  const rate = page.getByRole('form', { name: /^Rate / });
  await expect(rate).toBeVisible();
  await rate.getByRole('button', { name: 'Save rating' }).click();
  await expect(rate.getByText('Choose from 1 to 5 stars.')).toBeVisible();
  await rate.locator('label.star').first().click();
  await expect(rate.getByRole('radio', { name: '1 star' })).toBeChecked();
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await expect(rate.getByRole('radio', { name: '4 stars' })).toBeChecked();
  await rate.getByRole('radio', { name: 'Yes' }).check();
  await rate.getByLabel('Comment (optional)').fill('Clear brief, the risks section helped.');
  await expectNoAxeViolations(page);
  const [rated] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/rating') && r.request().method() === 'PUT'),
    rate.getByRole('button', { name: 'Save rating' }).click(),
  ]);
  expect(rated.status()).toBe(200);
  expect(rated.request().postDataJSON()).toEqual({ rating: 4, useful: true, comment: 'Clear brief, the risks section helped.' });
  expect(await rated.json()).toMatchObject({ rating: 4, useful: true });
  await expect(page.getByTestId('rate-document').getByRole('status')).toHaveText('Thanks — saved.');

  // Complete the only step: the session is complete and the survey is asked.
  await expect(page.getByTestId('session-survey')).toHaveCount(0);
  await page.getByRole('button', { name: /Complete step/ }).click();
  const survey = page.getByRole('region', { name: /Your plan is complete/ });
  await expect(survey).toBeVisible();
  await expectNoAxeViolations(page);
  await survey.locator('label.star').nth(4).click();
  await expect(survey.getByRole('radio', { name: '5 — very satisfied' })).toBeChecked();
  await survey.getByLabel('How many hours would this plan have taken you without Plansmith?').fill('6.5');
  const [answered] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/sessions/${id}/survey`) && r.request().method() === 'PUT'),
    survey.getByRole('button', { name: 'Send answer' }).click(),
  ]);
  expect(answered.status()).toBe(200);
  expect(answered.request().postDataJSON()).toEqual({ csat: 5, hours_without: 6.5, comment: null });
  await expect(page.getByTestId('session-survey').getByRole('status')).toContainText('Thanks — saved');

  // The product-research consent, on the account page.
  await page.getByRole('link', { name: 'Account' }).click();
  const research = page.getByTestId('consent-product_research');
  const toggle = research.getByRole('switch', { name: 'Allow product research' });
  await expect(toggle).not.toBeChecked();
  await expect(research.getByText('not given')).toBeVisible();
  const [posted] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/me/consents') && r.request().method() === 'POST'),
    toggle.check(),
  ]);
  expect(posted.status()).toBe(200);
  await expect(toggle).toBeChecked();
  await expect(research.getByText('you gave your consent')).toBeVisible();
  const consents = (await (await page.request.get('/api/v1/me/consents')).json()) as { notices: { kind: string; given: boolean }[] };
  expect(consents.notices[1]).toMatchObject({ kind: 'product_research', given: true });
  // The model-provider consent is untouched.
  expect(consents.notices.find((n) => n.kind === 'llm_processing')?.given).toBe(true);
  await expectNoAxeViolations(page);
});
