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
  const rating = page.getByTestId('rate-document');
  await expect(rating.getByRole('status')).toHaveText('Thanks — saved.');
  await expect(rating.getByTestId('saved-rating')).toHaveText('You rated this 4 of 5 · useful');
  await expect(rating.getByText('Clear brief, the risks section helped.')).toBeVisible();

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
  await expect(page.getByTestId('saved-survey')).toHaveText('Your answer: satisfaction 5 of 5 · 6.5 hours without Plansmith');

  // After a reload both answers are read back (GET) and shown, not asked again.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Quality Plan' })).toBeVisible();
  const savedRating = page.getByTestId('rate-document');
  await expect(savedRating.getByTestId('saved-rating')).toHaveText('You rated this 4 of 5 · useful');
  await expect(savedRating.getByText('Clear brief, the risks section helped.')).toBeVisible();
  await expect(savedRating.getByRole('status')).toHaveCount(0);
  await expect(page.getByRole('form', { name: /^Rate / })).toHaveCount(0);
  const savedSurvey = page.getByTestId('session-survey');
  await expect(savedSurvey.getByTestId('saved-survey')).toHaveText('Your answer: satisfaction 5 of 5 · 6.5 hours without Plansmith');
  await expect(savedSurvey.getByRole('button', { name: 'Send answer' })).toHaveCount(0);
  await expectNoAxeViolations(page);

  // "Change my rating" opens the form filled in with the saved rating; rating again replaces it.
  await savedRating.getByRole('button', { name: 'Change my rating' }).click();
  const again = page.getByRole('form', { name: /^Rate / });
  await expect(again.getByRole('radio', { name: '4 stars' })).toBeChecked();
  await expect(again.getByRole('radio', { name: 'Yes' })).toBeChecked();
  await expect(again.getByLabel('Comment (optional)')).toHaveValue('Clear brief, the risks section helped.');
  await again.locator('label.star').nth(4).click();
  await expect(again.getByRole('radio', { name: '5 stars' })).toBeChecked();
  const [rerated] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/rating') && r.request().method() === 'PUT'),
    again.getByRole('button', { name: 'Save rating' }).click(),
  ]);
  expect(rerated.status()).toBe(200);
  expect(rerated.request().postDataJSON()).toEqual({ rating: 5, useful: true, comment: 'Clear brief, the risks section helped.' });
  await expect(savedRating.getByTestId('saved-rating')).toHaveText('You rated this 5 of 5 · useful');
  // And after another reload, the new rating is the one shown.
  await page.reload();
  await expect(page.getByTestId('rate-document').getByTestId('saved-rating')).toHaveText('You rated this 5 of 5 · useful');

  // "Change my answer" asks the survey again, filled in with the saved answer.
  await page.getByTestId('session-survey').getByRole('button', { name: 'Change my answer' }).click();
  const askedAgain = page.getByRole('region', { name: /Your plan is complete/ });
  await expect(askedAgain.getByRole('radio', { name: '5 — very satisfied' })).toBeChecked();
  await expect(askedAgain.getByLabel('How many hours would this plan have taken you without Plansmith?')).toHaveValue('6.5');

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
