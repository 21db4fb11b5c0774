import { createSession, expect, test } from './fixtures';

/** Writes the first section through the API, as an edit of the person would. */
async function editFirstSection(page: import('@playwright/test').Page, sessionId: string, content: string) {
  const docs = (await (await page.request.get(`/api/v1/sessions/${sessionId}/documents`)).json()).items as { id: string }[];
  const doc = await (await page.request.get(`/api/v1/sessions/${sessionId}/documents/${docs[0].id}`)).json();
  const res = await page.request.put(`/api/v1/sessions/${sessionId}/documents/${doc.id}/sections/${doc.sections[0].id}`, {
    data: { content, base_revision: doc.revision },
  });
  expect(res.ok()).toBeTruthy();
  return { docId: doc.id as string, sectionTitle: doc.sections[0].title as string };
}

test('restore asks first, can be cancelled, and can be undone; revisions say when in words', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'History Plan' });
  await editFirstSection(page, id, 'First words.');
  await editFirstSection(page, id, 'Second words.');
  await page.goto(`/sessions/${id}`);
  const revisionText = page.locator('.document .sections > p.muted');
  await expect(revisionText).toHaveText('Revision 2');
  const first = page.getByTestId('doc-section').first();
  await expect(first).toContainText('Second words.');

  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByTestId('revision').first()).toContainText('just now');
  await page.getByRole('button', { name: /^Revision 1\b/ }).click();
  const diff = page.getByTestId('revision-diff');
  await diff.getByRole('button', { name: 'Restore revision 1…' }).click();
  await expect(diff.getByRole('group')).toContainText('you can undo');
  await diff.getByRole('button', { name: 'Cancel' }).click();
  await expect(revisionText).toHaveText('Revision 2');

  await diff.getByRole('button', { name: 'Restore revision 1…' }).click();
  await diff.getByRole('button', { name: 'Yes, restore revision 1' }).click();
  await expect(revisionText).toHaveText('Revision 3');
  await expect(first).toContainText('First words.');
  const notice = page.getByTestId('restore-notice');
  await expect(notice).toContainText('Revision 1 restored, as the new revision 3');

  // Undo: what was current before (revision 2) comes back.
  await notice.getByRole('button', { name: 'Undo' }).click();
  await expect(revisionText).toHaveText('Revision 4');
  await expect(first).toContainText('Second words.');
  await expect(notice).toContainText('Undone: revision 2 is back, as revision 4');
});

test('a revision says what it restored and which sections changed, when the server tells', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Changes Plan' });
  await editFirstSection(page, id, 'Some words.');
  const { sectionTitle } = await editFirstSection(page, id, 'Other words.');
  // The server is adding `restored_from` and `changed_sections` to this list: until it does,
  // add them to its real answer here.
  await page.route(`**/api/v1/sessions/${id}/documents/*/revisions`, async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    const sectionIds = (await (await page.request.get(route.request().url().replace(/\/revisions$/, ''))).json()).sections.map(
      (s: { id: string }) => s.id,
    );
    body.items = body.items.map((r: { revision: number }) => ({
      ...r,
      restored_from: r.revision === 2 ? 1 : null,
      changed_sections: r.revision === 2 ? [sectionIds[0]] : [],
    }));
    await route.fulfill({ response, json: body });
  });
  await page.goto(`/sessions/${id}`);
  await page.getByRole('button', { name: 'Show' }).click();
  const newest = page.getByTestId('revision').first();
  await expect(newest).toContainText('Revision 2');
  await expect(newest).toContainText('restored from revision 1');
  await expect(newest).not.toContainText('by you');
  await expect(newest).toContainText(`Changed: ${sectionTitle}`);
});
