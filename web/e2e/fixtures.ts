import { test as base, expect, request as apiRequest, type APIRequestContext, type Page } from '@playwright/test';
import { setRole, startServer, type RunningServer } from './server';

export interface Account {
  email: string;
  password: string;
}

/** `serverSettings`: more `PLANSMITH_*` settings for the worker's server (a spec's `test.use`). */
type WorkerFixtures = { server: RunningServer; tokensPerSecond: number; serverSettings: Record<string, string> };
type TestFixtures = { account: Account; signedIn: Page };

let counter = 0;
export function uniqueEmail(): string {
  counter += 1;
  return `e2e-${process.pid}-${Date.now().toString(36)}-${counter}@example.com`;
}

export const test = base.extend<TestFixtures, WorkerFixtures>({
  tokensPerSecond: [150, { scope: 'worker', option: true }],
  serverSettings: [{}, { scope: 'worker', option: true }],
  // One fresh server (and database) per worker.
  server: [
    async ({ tokensPerSecond, serverSettings }, use) => {
      const server = await startServer({ tokensPerSecond, settings: serverSettings });
      await use(server);
      await server.stop();
    },
    { scope: 'worker', timeout: 60_000 },
  ],
  baseURL: async ({ server }, use) => use(server.url),
  // A new account that has agreed to the model-provider notice (as a person does before their
  // first message), so specs about other things send messages without meeting the notice.
  account: async ({ request, server }, use) => {
    const account = { email: uniqueEmail(), password: 'correct horse battery' };
    const res = await request.post(`${server.url}/api/v1/auth/register`, { data: { ...account, name: 'E2E Tester' } });
    expect(res.status()).toBe(201);
    const { token } = (await res.json()) as { token: string };
    await giveConsent(request, { baseURL: server.url, token });
    await use(account);
  },
  // A page whose browser context is signed in as `account` (through the UI's sign-in form).
  signedIn: async ({ page, account }, use) => {
    await page.goto('/signin');
    await page.getByLabel('Email').fill(account.email);
    await page.getByLabel('Password').fill(account.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
    await use(page);
  },
});

export { expect };

/** Agrees to the notice before the first message (model providers get the conversation) for
 * the account `request` is signed in as (or whose bearer `token` is given), the way "Agree and
 * send" does. */
export async function giveConsent(request: APIRequestContext, options: { baseURL?: string; token?: string } = {}): Promise<void> {
  const res = await request.post(`${options.baseURL ?? ''}/api/v1/me/consents`, {
    data: { kind: 'llm_processing', given: true },
    headers: options.token ? { authorization: `Bearer ${options.token}` } : undefined,
  });
  expect(res.status()).toBe(200);
}

/** The notice shown before a message goes out while the account has not agreed yet. */
export function consentNotice(page: Page) {
  return page.getByRole('region', { name: 'Before you send: how replies are written' });
}

/** Agrees to the notice shown before the first message: the held message then goes out. */
export async function acceptConsentNotice(page: Page): Promise<void> {
  const notice = consentNotice(page);
  await expect(notice).toBeVisible();
  await notice.getByRole('button', { name: 'Agree and send' }).click();
  await expect(notice).toHaveCount(0);
}

/** Creates a session through the API of the signed-in page's context. */
export async function createSession(
  page: Page,
  body: { workflow_id?: string; title?: string; idea?: string } = {},
): Promise<{ id: string }> {
  const res = await page.request.post('/api/v1/sessions', {
    data: {
      workflow_id: body.workflow_id ?? 'quick-brief',
      title: body.title ?? 'Recipe Box',
      idea: body.idea ?? 'Families share and plan recipes together, with shopping lists.',
    },
  });
  expect(res.status()).toBe(201);
  return res.json();
}

export async function serverMessages(request: APIRequestContext, sessionId: string) {
  const res = await request.get(`/api/v1/sessions/${sessionId}/messages`);
  expect(res.ok()).toBeTruthy();
  return (await res.json()).items as { id: string; role: string; content: string; status: string }[];
}

/** Waits until the session has `messages` messages on the server and every reply among them
 * is finished. */
export async function waitForReplies(page: Page, sessionId: string, messages: number, timeout = 50_000) {
  await expect
    .poll(
      async () => {
        const items = await serverMessages(page.request, sessionId);
        return items.length >= messages && items.every((m) => m.status === 'complete' || m.role === 'user');
      },
      { timeout, intervals: [250, 500, 1000] },
    )
    .toBe(true);
}

/** An API client signed in (bearer token) as a new account the operator made an admin. */
export async function adminApi(server: RunningServer): Promise<APIRequestContext> {
  const email = uniqueEmail();
  const anonymous = await apiRequest.newContext({ baseURL: server.url });
  const res = await anonymous.post('/api/v1/auth/register', { data: { email, password: 'correct horse battery', name: 'E2E Admin' } });
  expect(res.status()).toBe(201);
  const { token } = (await res.json()) as { token: string };
  await anonymous.dispose();
  await setRole(server, email, 'admin');
  return apiRequest.newContext({ baseURL: server.url, extraHTTPHeaders: { authorization: `Bearer ${token}` } });
}
