import AxeBuilder from '@axe-core/playwright';
import type { APIRequestContext, Page, Request } from '@playwright/test';
import { adminApi, createSession, expect, test } from './fixtures';

interface ErrorGroup {
  kind: string;
  title: string;
  detail: string;
  count: number;
  sample_user_id: string | null;
  release: string;
}

/** The page's next report whose body contains `text`. */
function reportRequest(page: Page, text: string): Promise<Request> {
  return page.waitForRequest(
    (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/client-errors' && (r.postData() ?? '').includes(text),
  );
}

/** Waits until the admin list shows a group with each of `titles`, and returns those groups. */
async function groupsTitled(admin: APIRequestContext, titles: string[]): Promise<ErrorGroup[]> {
  let found: ErrorGroup[] = [];
  await expect
    .poll(
      async () => {
        const res = await admin.get('/api/v1/admin/errors?limit=100');
        expect(res.status()).toBe(200);
        const { items } = (await res.json()) as { items: ErrorGroup[] };
        found = items.filter((g) => titles.includes(g.title));
        return found.map((g) => g.title).sort();
      },
      { timeout: 15_000, intervals: [200, 500, 1000] },
    )
    .toEqual([...titles].sort());
  return found;
}

async function userId(page: Page): Promise<string> {
  const res = await page.request.get('/api/v1/me');
  expect(res.ok()).toBeTruthy();
  return ((await res.json()) as { id: string }).id;
}

test('an uncaught exception and an unhandled rejection are reported and reach the admin error list', async ({ signedIn: page, server }) => {
  const { id } = await createSession(page, { title: 'Error Report' });
  await page.goto(`/sessions/${id}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Error Report' })).toBeVisible();

  const tag = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const thrown = `e2e uncaught ${tag}`;
  const rejected = `e2e rejection ${tag}`;
  const sent: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/v1/client-errors') sent.push(r.postData() ?? '');
  });
  const thrownReport = reportRequest(page, thrown);
  const rejectedReport = reportRequest(page, rejected);
  // Real errors in the page: thrown from a timer (twice, from the same place: one report), and a
  // promise rejected with nobody to catch it.
  await page.evaluate(
    async ([thrown, rejected]) => {
      const fail = () => {
        throw new Error(thrown);
      };
      setTimeout(fail, 0);
      setTimeout(fail, 0);
      void Promise.reject(new Error(rejected));
      await new Promise((resolve) => setTimeout(resolve, 200));
    },
    [thrown, rejected],
  );

  for (const [request, message, source] of [
    [await thrownReport, thrown, 'onerror'],
    [await rejectedReport, rejected, 'unhandledrejection'],
  ] as const) {
    const body = request.postDataJSON() as Record<string, unknown>;
    // The route pattern, never the session's id.
    expect(body).toMatchObject({ message, source, url: '/sessions/:id' });
    expect(body.stack).toContain(message);
    expect(JSON.stringify(body)).not.toContain(id);
    expect((await request.response())?.status()).toBe(202);
  }

  const admin = await adminApi(server);
  const groups = await groupsTitled(admin, [`onerror: ${thrown}`, `unhandledrejection: ${rejected}`]);
  const me = await userId(page);
  for (const group of groups) {
    expect(group.kind).toBe('client');
    expect(group.count).toBe(1);
    // Reported with the page's cookie: the server knows whose page it was.
    expect(group.sample_user_id).toBe(me);
    expect(group.release).not.toBe('');
  }
  expect(sent.filter((body) => body.includes(thrown))).toHaveLength(1);
  await admin.dispose();
});

test('a crash of the whole app shows a page that offers a reload, and the boundary reports it with its error id', async ({ signedIn: page, server }) => {
  const reported = reportRequest(page, 'app panel');
  await page.goto('/?crash=app');
  const fallback = page.getByTestId('boundary-app');
  await expect(fallback).toBeVisible();
  await expect(page.getByRole('heading', { level: 1, name: 'Plansmith stopped working on this page' })).toBeVisible();
  await expect(fallback.getByRole('button', { name: 'Reload the page' })).toBeVisible();
  // A way home that does not go through the app's router.
  await expect(page.getByRole('link', { name: 'Plansmith', exact: true })).toHaveAttribute('href', '/');
  const errorId = await fallback.locator('code').textContent();
  expect(errorId).toMatch(/^web-/);
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  const request = await reported;
  const body = request.postDataJSON() as Record<string, unknown>;
  expect(body).toMatchObject({ source: 'boundary', url: '/sessions' });
  expect(body.message).toBe(`Forced render error in the app panel (?crash=app)\nError id shown on the page: ${errorId}`);
  expect(body.stack).toContain('Component stack:');
  expect((await request.response())?.status()).toBe(202);

  const admin = await adminApi(server);
  const [group] = await groupsTitled(admin, ['boundary: Forced render error in the app panel (?crash=app)']);
  expect(group.kind).toBe('client');
  expect(group.detail).toContain(errorId!);
  await admin.dispose();
});
