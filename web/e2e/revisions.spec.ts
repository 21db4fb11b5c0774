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

test('each revision says what it restored and which sections it changed, as the server tells', async ({ signedIn: page }) => {
  const { id } = await createSession(page, { title: 'Changes Plan' });
  const { docId, sectionTitle } = await editFirstSection(page, id, 'Some words.');
  await editFirstSection(page, id, 'Other words.');
  // Revision 3 brings revision 1 back.
  expect((await page.request.post(`/api/v1/sessions/${id}/documents/${docId}/restore`, { data: { revision: 1 } })).ok()).toBeTruthy();
  await page.goto(`/sessions/${id}`);
  await page.getByRole('button', { name: 'Show' }).click();
  const revisions = page.getByTestId('revision');
  await expect(revisions).toHaveCount(3);
  const [third, second, first] = [revisions.nth(0), revisions.nth(1), revisions.nth(2)];
  await expect(third).toContainText('Revision 3');
  await expect(third).toContainText('restored from revision 1');
  await expect(third).not.toContainText('by you');
  await expect(third).toContainText(`Changed: ${sectionTitle}`);
  await expect(second).toContainText('by you');
  await expect(second).not.toContainText('restored');
  await expect(second).toContainText(`Changed: ${sectionTitle}`);
  // The first revision has nothing before it: it says what it wrote.
  await expect(first).toContainText(`Wrote: ${sectionTitle}`);
});
