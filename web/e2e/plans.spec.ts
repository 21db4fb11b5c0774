import AxeBuilder from '@axe-core/playwright';
import type { APIRequestContext, Page } from '@playwright/test';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test as base, expect } from './fixtures';

// The Plans page and the past-due banner against the real server, with Stripe played by a small
// server of our own: it speaks the two API calls Plansmith makes (Checkout Sessions and
// customer-portal sessions) and serves the pages they lead to. The subscription and the failed
// payment reach Plansmith as Stripe sends them: signed events to its webhook.

const WEBHOOK_SECRET = 'whsec_e2e_plans_0123456789';
const SECRET_KEY = 'sk_test_x';

interface StripeCall {
  path: string;
  authorization: string | undefined;
  form: URLSearchParams;
}

interface FakeStripe {
  /** Where it listens: Plansmith's `billing.api_base`. */
  url: string;
  calls: StripeCall[];
  /** The app the pages send people back to (set once the worker's server is known). */
  appUrl: string;
}

/** A page of the fake Stripe, with one link onwards. */
function htmlPage(title: string, link: { href: string; text: string }): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><main><h1>${esc(title)}</h1><p><a href="${esc(link.href)}">${esc(link.text)}</a></p></main></body></html>`;
}

const test = base.extend<object, { stripe: FakeStripe }>({
  stripe: [
    async ({}, use) => {
      const fake: FakeStripe = { url: '', calls: [], appUrl: '' };
      const sessions = new Map<string, URLSearchParams>();
      const server = createServer((req, res) => {
        let raw = '';
        req.on('data', (chunk) => (raw += String(chunk)));
        req.on('end', () => {
          const url = new URL(req.url ?? '/', fake.url);
          const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
            res.writeHead(status, { 'content-type': type, ...headers });
            res.end(body);
          };
          const json = (status: number, body: unknown) => send(status, 'application/json', JSON.stringify(body));
          if (req.method === 'POST' && (url.pathname === '/v1/checkout/sessions' || url.pathname === '/v1/billing_portal/sessions')) {
            const form = new URLSearchParams(raw);
            fake.calls.push({ path: url.pathname, authorization: req.headers.authorization, form });
            if (req.headers.authorization !== `Bearer ${SECRET_KEY}`) {
              return json(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
            }
            const checkout = url.pathname === '/v1/checkout/sessions';
            const id = checkout ? `cs_test_${fake.calls.length}` : `bps_test_${fake.calls.length}`;
            sessions.set(id, form);
            return json(200, { id, object: checkout ? 'checkout.session' : 'billing_portal.session', url: `${fake.url}/${checkout ? 'checkout' : 'portal'}/${id}` });
          }
          const shown = /^\/(checkout|portal)\/(\w+)$/.exec(url.pathname);
          const form = shown && sessions.get(shown[2]);
          if (req.method === 'GET' && shown && form) {
            return shown[1] === 'checkout'
              ? send(200, 'text/html', htmlPage('Fake Stripe Checkout', { href: form.get('success_url') ?? '/', text: 'Pay' }))
              : send(200, 'text/html', htmlPage('Fake Stripe customer portal', { href: form.get('return_url') ?? '/', text: 'Return to Plansmith' }));
          }
          // billing.return_url: from here back to the app, with Checkout's ?checkout=…
          if (req.method === 'GET' && url.pathname === '/back') return send(302, 'text/plain', '', { location: `${fake.appUrl}/plans${url.search}` });
          json(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method} ${url.pathname})` } });
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await use(fake);
      await new Promise((resolve) => server.close(resolve));
    },
    { scope: 'worker' },
  ],
  serverSettings: [
    async ({ stripe }, use) =>
      use({
        PLANSMITH_BILLING__WEBHOOK_SECRET: WEBHOOK_SECRET,
        PLANSMITH_BILLING__SECRET_KEY: SECRET_KEY,
        PLANSMITH_BILLING__PLANS: 'price_pro:pro,price_team:team',
        PLANSMITH_BILLING__API_BASE: stripe.url,
        PLANSMITH_BILLING__RETURN_URL: `${stripe.url}/back`,
      }),
    { scope: 'worker' },
  ],
});

// Amounts and dates as an American browser in UTC shows them.
test.use({ locale: 'en-US', timezoneId: 'UTC' });

/** Sends a Stripe event to the webhook, signed now the way Stripe signs it. */
async function deliver(request: APIRequestContext, type: string, object: Record<string, unknown>): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  // Unique per run: the server applies each event id once.
  const id = `evt_${now.toString(36)}_${randomBytes(6).toString('hex')}`;
  const body = JSON.stringify({ id, object: 'event', type, created: now, data: { object } });
  const signature = createHmac('sha256', WEBHOOK_SECRET).update(`${now}.${body}`).digest('hex');
  const res = await request.post('/api/v1/billing/webhook', {
    data: body,
    headers: { 'content-type': 'application/json', 'stripe-signature': `t=${now},v1=${signature}` },
  });
  expect(res.status(), await res.text()).toBe(200);
  expect((await res.json()).outcome).toBe('applied');
}

async function expectNoAxeViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

test('plans: buy Pro through Checkout, the subscription arrives by webhook, a failed payment shows the banner, Manage billing opens the portal', async ({
  signedIn: page,
  account,
  server,
  stripe,
  request,
}) => {
  test.setTimeout(90_000);
  stripe.appUrl = server.url;
  const me = (await (await page.request.get('/api/v1/me')).json()) as { id: string };
  const run = randomBytes(4).toString('hex');
  const customer = `cus_${run}`;
  // The fake Stripe serves the whole worker: only the calls made from here on are this test's.
  const seen = stripe.calls.length;
  const calls = (path: string) => stripe.calls.slice(seen).filter((c) => c.path === path);

  // From the navigation: the free plan, nothing subscribed, both plans on sale, no banner.
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Plans', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Plans' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Plans', exact: true })).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('plan-in-force')).toHaveText('You are on the Free plan.');
  await expect(page.getByText('No subscriptions yet.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Upgrade to Team' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Manage billing' })).toHaveCount(0);
  await expect(page.getByTestId('billing-banner')).toHaveCount(0);
  await expectNoAxeViolations(page);

  // "Upgrade to Pro" opens Stripe Checkout for the Pro price, for this account.
  await page.getByRole('button', { name: 'Upgrade to Pro' }).click();
  await expect(page.getByRole('heading', { name: 'Fake Stripe Checkout' })).toBeVisible();
  expect(page.url()).toMatch(new RegExp(`^${stripe.url}/checkout/cs_test_\\d+$`));
  const checkout = calls('/v1/checkout/sessions');
  expect(checkout).toHaveLength(1);
  expect(checkout[0].authorization).toBe(`Bearer ${SECRET_KEY}`);
  const form = checkout[0].form;
  expect(form.get('line_items[0][price]')).toBe('price_pro');
  expect(form.get('mode')).toBe('subscription');
  expect(form.get('subscription_data[metadata][plansmith_user_id]')).toBe(me.id);
  expect(form.get('customer_email')).toBe(account.email);
  expect(form.get('success_url')).toBe(`${stripe.url}/back?checkout=success`);
  expect(form.get('cancel_url')).toBe(`${stripe.url}/back?checkout=cancelled`);

  // Paid: back on the Plans page, which says so once and keeps a plain address.
  await page.getByRole('link', { name: 'Pay' }).click();
  await expect(page.getByTestId('checkout-outcome')).toHaveText('Payment received — your plan updates in a moment.');
  await expect(page).toHaveURL(`${server.url}/plans`);

  // Stripe's event arrives a moment later: the page reads the plan again by itself.
  await deliver(request, 'customer.subscription.created', {
    id: `sub_${run}`,
    object: 'subscription',
    customer,
    status: 'active',
    currency: 'usd',
    metadata: { plansmith_user_id: me.id },
    items: {
      object: 'list',
      data: [{ quantity: 1, price: { id: 'price_pro', product: 'prod_1', unit_amount: 2000, currency: 'usd', recurring: { interval: 'month', interval_count: 1 } } }],
    },
  });
  await expect(page.getByTestId('plan-in-force')).toHaveText('You are on the Pro plan.');
  const row = page.getByTestId('subscription');
  await expect(row).toHaveCount(1);
  await expect(row.getByRole('rowheader')).toHaveText('Pro');
  await expect(row.getByRole('cell').nth(0)).toHaveText('Active');
  await expect(row.getByRole('cell').nth(1)).toHaveText('$20.00/month');
  await expect(page.getByRole('button', { name: 'Upgrade to Team' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Manage billing' })).toBeVisible();

  // The next payment fails: the banner on every page, with the day the plan would end.
  await deliver(request, 'invoice.payment_failed', { id: `in_${run}`, object: 'invoice', customer, currency: 'usd', amount_due: 2000 });
  const billing = (await (await page.request.get('/api/v1/me/billing')).json()) as { status: string; downgrade_at: string };
  expect(billing.status).toBe('past_due');
  const day = new Date(billing.downgrade_at).toLocaleDateString('en-US', { dateStyle: 'long', timeZone: 'UTC' });
  await nav.getByRole('link', { name: 'Sessions' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
  // Read once per sign-in: the reload stands for the next visit.
  await page.reload();
  const banner = page.getByRole('status', { name: 'Payment overdue' });
  await expect(banner).toHaveText(`Your last payment failed. Update your payment method before ${day} to keep the Pro plan. Go to Plans`);
  await expect(banner.locator('time')).toHaveAttribute('datetime', billing.downgrade_at);
  await expectNoAxeViolations(page);
  await banner.getByRole('link', { name: 'Go to Plans' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Plans' })).toBeVisible();
  await expect(banner).toBeVisible();
  await expect(banner.getByRole('link')).toHaveCount(0);
  // The subscription's own status is Stripe's: it changes with the subscription's next event.
  await expect(row.getByRole('cell').nth(0)).toHaveText('Active');
  await expect(row.getByRole('cell').nth(1)).toHaveText('$20.00/month');
  await expect(page.getByTestId('plan-in-force')).toHaveText('You are on the Pro plan.');
  await expectNoAxeViolations(page);

  // "Manage billing" opens Stripe's customer portal for this customer, which sends them back.
  await page.getByRole('button', { name: 'Manage billing' }).click();
  await expect(page.getByRole('heading', { name: 'Fake Stripe customer portal' })).toBeVisible();
  const portal = calls('/v1/billing_portal/sessions');
  expect(portal).toHaveLength(1);
  expect(portal[0].authorization).toBe(`Bearer ${SECRET_KEY}`);
  expect(portal[0].form.get('customer')).toBe(customer);
  expect(portal[0].form.get('return_url')).toBe(`${stripe.url}/back`);
  await page.getByRole('link', { name: 'Return to Plansmith' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Plans' })).toBeVisible();
  await expect(page.getByTestId('checkout-outcome')).toHaveCount(0);
});

test('plans: a cancelled Checkout says nothing was charged; the plan stays free', async ({ signedIn: page, server, stripe }) => {
  stripe.appUrl = server.url;
  await page.goto('/plans');
  await page.getByRole('button', { name: 'Upgrade to Team' }).click();
  await expect(page.getByRole('heading', { name: 'Fake Stripe Checkout' })).toBeVisible();
  expect(stripe.calls.at(-1)?.form.get('line_items[0][price]')).toBe('price_team');
  // Leaving Checkout without paying: Stripe sends the person to the cancel address.
  await page.goto(stripe.calls.at(-1)!.form.get('cancel_url')!);
  await expect(page.getByTestId('checkout-outcome')).toHaveText('Checkout cancelled, nothing was charged.');
  await expect(page.getByTestId('plan-in-force')).toHaveText('You are on the Free plan.');
  await expect(page.getByTestId('billing-banner')).toHaveCount(0);
});
