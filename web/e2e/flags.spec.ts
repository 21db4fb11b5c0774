import AxeBuilder from '@axe-core/playwright';
import type { APIRequestContext, Page } from '@playwright/test';
import { adminApi, expect, test } from './fixtures';

// Flags live on the server, which every test of this worker shares: each test deletes the
// flags it set, whatever happens.

type Hooks = { __plansmith: { flags(): Record<string, boolean | string> | null } };

async function putFlag(admin: APIRequestContext, key: string, definition: object) {
  const res = await admin.put(`/api/v1/admin/flags/${key}`, { data: definition });
  expect(res.status(), await res.text()).toBe(200);
}

/** Loads a page (`go`: a navigation or a reload) and waits until the app has this load's flag
 * evaluation; returns the flags and what the app sent for them. */
async function loadWithFlags(page: Page, go: () => Promise<unknown>) {
  const answered = page.waitForResponse((r) => r.url().endsWith('/ofrep/v1/evaluate/flags') && r.request().method() === 'POST');
  await go();
  const response = await answered;
  expect([200, 304]).toContain(response.status());
  const handle = await page.waitForFunction(() => (window as unknown as Hooks).__plansmith.flags());
  const values = (await handle.jsonValue()) as Record<string, boolean | string>;
  return { values, sent: response.request().postDataJSON() as { context?: { targetingKey?: string } } };
}

async function openNewSession(page: Page) {
  const loaded = await loadWithFlags(page, () => page.goto('/sessions/new'));
  await expect(page.getByRole('radio').first()).toBeVisible();
  return loaded;
}

test('examples on the new-session page follow their flag: on for everyone they fill the form, off they are gone after a reload', async ({
  server,
  signedIn: page,
}) => {
  const admin = await adminApi(server);
  const examples = page.getByRole('group', { name: 'Start from an example' });
  const title = page.getByLabel('Title');
  try {
    // No such flag yet: off. The flags are evaluated for this user.
    const me = (await (await page.request.get('/api/v1/me')).json()) as { id: string };
    const first = await openNewSession(page);
    expect(first.sent.context?.targetingKey).toBe(me.id);
    expect(first.values['new-session.examples']).toBeUndefined();
    await expect(examples).toHaveCount(0);

    await putFlag(admin, 'new-session.examples', { enabled: true });
    expect((await openNewSession(page)).values['new-session.examples']).toBe(true);
    await expect(examples).toBeVisible();
    const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    expect(axe.violations.map((v) => v.id)).toEqual([]);

    // An example fills both fields; text the person wrote stays unless they agree to replace it.
    await examples.getByRole('button', { name: 'Recipe Box' }).click();
    await expect(title).toHaveValue('Recipe Box');
    await expect(page.getByLabel('Your idea')).toHaveValue(/shopping list/);
    await expect(page.getByRole('status').filter({ hasText: 'Recipe Box' })).toHaveCount(1);
    await title.fill('Meal Planner');
    page.once('dialog', (dialog) => void dialog.dismiss());
    await examples.getByRole('button', { name: 'Tool Library' }).click();
    await expect(title).toHaveValue('Meal Planner');
    await page.getByLabel(/Quick brief/i).check();
    await page.getByRole('button', { name: 'Start session' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Meal Planner' })).toBeVisible();
    await expect(page.getByText(/Families share their recipes/).first()).toBeVisible();

    // Turned off while the page is open: after a reload the examples are gone.
    await openNewSession(page);
    await expect(examples).toBeVisible();
    await putFlag(admin, 'new-session.examples', { enabled: false });
    const reloaded = await loadWithFlags(page, () => page.reload());
    expect(reloaded.values['new-session.examples']).toBe(false);
    await expect(title).toBeVisible();
    await expect(examples).toHaveCount(0);
  } finally {
    await admin.delete('/api/v1/admin/flags/new-session.examples');
    await admin.dispose();
  }
});

test('a workflow its flag keeps back is not offered on the new-session page, and the form starts with one that is', async ({
  server,
  signedIn: page,
}) => {
  const admin = await adminApi(server);
  const quickBrief = page.getByRole('radio', { name: /Quick brief/ });
  const productPlan = page.getByRole('radio', { name: /Product plan/ });
  try {
    await openNewSession(page);
    await expect(quickBrief).toBeVisible();
    await expect(productPlan).toBeChecked();

    await putFlag(admin, 'workflow:quick-brief', { enabled: false });
    await openNewSession(page);
    await expect(productPlan).toBeChecked();
    await expect(quickBrief).toHaveCount(0);

    // The default workflow kept back: the one left is chosen, and a session starts with it.
    expect((await admin.delete('/api/v1/admin/flags/workflow:quick-brief')).status()).toBe(204);
    await putFlag(admin, 'workflow:product-plan', { enabled: false });
    await openNewSession(page);
    await expect(productPlan).toHaveCount(0);
    await expect(quickBrief).toBeChecked();
    await page.getByLabel('Title').fill('Flagged Plan');
    await page.getByLabel('Your idea').fill('A plan started while the product plan is kept back.');
    await page.getByRole('button', { name: 'Start session' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Flagged Plan' })).toBeVisible();
    const id = page.url().split('/').pop()!;
    const session = (await (await page.request.get(`/api/v1/sessions/${id}`)).json()) as { workflow_id: string };
    expect(session.workflow_id).toBe('quick-brief');
  } finally {
    await admin.delete('/api/v1/admin/flags/workflow:quick-brief');
    await admin.delete('/api/v1/admin/flags/workflow:product-plan');
    await admin.dispose();
  }
});
