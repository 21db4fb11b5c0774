// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { MyBilling } from '../api/types';
import { myBilling } from '../lib/billing';
import PlansPage from './PlansPage';

beforeEach(() => {
  vi.stubGlobal('scrollTo', () => {});
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  myBilling.set(null);
  history.replaceState(null, '', '/');
});

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const FREE: MyBilling = {
  plan: 'free',
  billed_plan: 'free',
  status: 'none',
  past_due_since: null,
  downgrade_at: null,
  subscriptions: [],
  purchasable: ['pro', 'team'],
  payments_enabled: true,
};
const PRO: MyBilling = {
  ...FREE,
  plan: 'pro',
  billed_plan: 'pro',
  status: 'active',
  subscriptions: [{ id: 'sub_1', status: 'active', plan: 'pro', currency: 'eur', mrr_cents: 1500, updated_at: new Date().toISOString() }],
};

/** A server answering GET /me/billing with `billing` and the portal with `portal`. */
function server(billing: MyBilling, portal: () => Response = () => json(200, { url: 'https://billing.stripe.test/p' })) {
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (url === '/api/v1/me/billing') return json(200, billing);
    if (url === '/api/v1/billing/portal' && init?.method === 'POST') return portal();
    return json(404, { error: { code: 'route_not_found', message: 'No such route.', hint: '', request_id: 'r' } });
  });
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

it('never subscribed: the free plan, no subscriptions, a button for each plan on sale and no portal', async () => {
  server(FREE);
  render(<PlansPage />);
  expect((await screen.findByTestId('plan-in-force')).textContent).toBe('You are on the Free plan.');
  expect(screen.getByText('No subscriptions yet.')).toBeTruthy();
  expect(screen.getByRole('button', { name: 'Upgrade to Pro' })).toBeTruthy();
  expect(screen.getByRole('button', { name: 'Upgrade to Team' })).toBeTruthy();
  expect(screen.queryByRole('button', { name: 'Manage billing' })).toBeNull();
  expect(document.title).toBe('Plans · Plansmith');
});

it('subscribed: the subscription with its price per month, Manage billing, and plan changes through it', async () => {
  server(PRO);
  render(<PlansPage />);
  const row = await screen.findByTestId('subscription');
  const cells = within(row).getAllByRole('cell').map((c) => c.textContent);
  expect(within(row).getByRole('rowheader').textContent).toBe('Pro');
  expect(cells[0]).toBe('Active');
  expect(cells[1]).toMatch(/^.*15.*\/month$/);
  expect(screen.getByRole('button', { name: 'Manage billing' })).toBeTruthy();
  expect(screen.queryByRole('button', { name: /Upgrade/ })).toBeNull();
  expect(screen.getByText('To change plan or cancel, use Manage billing above.')).toBeTruthy();
});

it('says when an administrator set the plan, and which plan the subscriptions pay for', async () => {
  server({ ...PRO, plan: 'team' });
  render(<PlansPage />);
  expect((await screen.findByTestId('billed-plan')).textContent).toBe(
    'An administrator set this plan for you. Your subscriptions pay for the Pro plan.',
  );
  expect(screen.getByTestId('plan-in-force').textContent).toBe('You are on the Team plan.');
});

it('without payments set up, says plainly that an administrator changes plans', async () => {
  server({ ...FREE, payments_enabled: false, purchasable: [] });
  render(<PlansPage />);
  expect(await screen.findByText('Plans are changed by an administrator on this server: ask them for another plan.')).toBeTruthy();
  expect(screen.queryByRole('button')).toBeNull();
});

it('back from Checkout: says what happened once, and the address loses the query', async () => {
  history.replaceState(null, '', '/plans?checkout=cancelled');
  server(FREE);
  render(<PlansPage />);
  expect((await screen.findByTestId('checkout-outcome')).textContent).toBe('Checkout cancelled, nothing was charged.');
  await waitFor(() => expect(location.pathname + location.search).toBe('/plans'));
  cleanup();
  history.replaceState(null, '', '/plans?checkout=success');
  render(<PlansPage />);
  expect((await screen.findByTestId('checkout-outcome')).textContent).toBe('Payment received — your plan updates in a moment.');
});

it('a portal that cannot be opened says why in the page’s words, under its button', async () => {
  server(PRO, () => json(404, { error: { code: 'not_found', message: 'You have no subscription to manage yet.', hint: 'Choose a plan first (POST /api/v1/billing/checkout).', request_id: 'r1' } }));
  render(<PlansPage />);
  fireEvent.click(await screen.findByRole('button', { name: 'Manage billing' }));
  const alert = await screen.findByRole('alert');
  expect(alert.textContent).toContain('You have no subscription to manage yet.');
  expect(alert.textContent).toContain('Choose a plan first.');
  expect(alert.textContent).not.toContain('/api/');
  expect(screen.getByRole('button', { name: 'Manage billing' }).getAttribute('aria-disabled')).toBeNull();
});
