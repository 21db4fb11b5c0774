// @vitest-environment jsdom
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import type { MyBilling } from '../api/types';
import { longDate, myBilling } from '../lib/billing';
import { BillingBanner } from './BillingBanner';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  myBilling.set(null);
  goTo('/');
});

/** Changes the address the way the browser's back button does (the router follows popstate). */
function goTo(path: string) {
  history.replaceState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const ACTIVE: MyBilling = {
  plan: 'pro',
  billed_plan: 'pro',
  status: 'active',
  past_due_since: null,
  downgrade_at: null,
  subscriptions: [{ id: 'sub_1', status: 'active', plan: 'pro', currency: 'usd', mrr_cents: 2000, updated_at: '2025-06-05T12:00:00Z' }],
  purchasable: ['pro', 'team'],
  payments_enabled: true,
};
const PAST_DUE: MyBilling = {
  ...ACTIVE,
  status: 'past_due',
  past_due_since: '2025-06-05T12:00:00Z',
  downgrade_at: '2025-06-12T12:00:00Z',
  subscriptions: [{ ...ACTIVE.subscriptions[0], status: 'past_due' }],
};
const LAPSED: MyBilling = { ...PAST_DUE, status: 'lapsed', plan: 'free', billed_plan: 'free' };
const NONE: MyBilling = { ...ACTIVE, status: 'none', plan: 'free', billed_plan: 'free', subscriptions: [] };

/** A server whose GET /me/billing answers `billing`. */
function server(billing: MyBilling | (() => Response)) {
  const fetch = vi.fn(async (input: RequestInfo | URL) => {
    if (String(input) !== '/api/v1/me/billing') return json(404, { error: { code: 'route_not_found', message: 'No such route.', hint: '', request_id: 'r' } });
    return typeof billing === 'function' ? billing() : json(200, billing);
  });
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

it('past due: says the payment failed, until when the plan stays, and links to the Plans page', async () => {
  server(PAST_DUE);
  render(<BillingBanner />);
  const banner = await screen.findByTestId('billing-banner');
  expect(banner.getAttribute('role')).toBe('status');
  expect(banner.dataset.status).toBe('past_due');
  expect(banner.className).toContain('billing-past_due');
  expect(banner.textContent).toBe(
    `Your last payment failed. Update your payment method before ${longDate(PAST_DUE.downgrade_at!)} to keep the Pro plan. Go to Plans`,
  );
  expect(banner.querySelector('time')?.getAttribute('datetime')).toBe(PAST_DUE.downgrade_at);
  expect(screen.getByRole('link', { name: 'Go to Plans' }).getAttribute('href')).toBe('/plans');
  expect(screen.getByRole('status', { name: 'Payment overdue' })).toBe(banner);
});

it('past due on a plan an administrator gave: names the plan paid for; without a date, says soon', async () => {
  server({ ...PAST_DUE, plan: 'team', billed_plan: 'pro', downgrade_at: null });
  render(<BillingBanner />);
  const banner = await screen.findByTestId('billing-banner');
  expect(banner.textContent).toBe('Your last payment failed. Update your payment method soon to keep the Pro plan. Go to Plans');
});

it('lapsed: says the account is on the free plan until it is paid', async () => {
  server(LAPSED);
  render(<BillingBanner />);
  const banner = await screen.findByTestId('billing-banner');
  expect(banner.dataset.status).toBe('lapsed');
  expect(banner.className).toContain('billing-lapsed');
  expect(banner.textContent).toBe('Your payment is overdue, so your account is on the free plan until it is paid. Go to Plans');
  expect(screen.getByRole('link', { name: 'Go to Plans' }).getAttribute('href')).toBe('/plans');
});

it('on the Plans page itself the banner has no link to it', async () => {
  goTo('/plans');
  server(PAST_DUE);
  render(<BillingBanner />);
  await screen.findByTestId('billing-banner');
  expect(screen.queryByRole('link')).toBeNull();
});

it('shows nothing when nothing is overdue, never subscribed, or the server cannot be asked', async () => {
  for (const answer of [ACTIVE, NONE, () => json(503, { error: { code: 'unavailable', message: 'Busy.', hint: '', request_id: 'r' } })]) {
    const fetch = server(answer);
    const { unmount } = render(<BillingBanner />);
    await waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(screen.queryByTestId('billing-banner')).toBeNull();
    unmount();
  }
});

it('asks once when it starts, not again on returning to the page soon after', async () => {
  const fetch = server(PAST_DUE);
  render(<BillingBanner refreshMs={60_000} />);
  await screen.findByTestId('billing-banner');
  document.dispatchEvent(new Event('visibilitychange'));
  await new Promise((r) => setTimeout(r, 20));
  expect(fetch).toHaveBeenCalledTimes(1);
});

it('asks again on returning to the page after its wait: a payment made meanwhile takes the banner away', async () => {
  let answer = PAST_DUE;
  const fetch = server(() => json(200, answer));
  render(<BillingBanner refreshMs={0} />);
  await screen.findByTestId('billing-banner');
  answer = ACTIVE;
  document.dispatchEvent(new Event('visibilitychange'));
  await waitFor(() => expect(screen.queryByTestId('billing-banner')).toBeNull());
  expect(fetch).toHaveBeenCalledTimes(2);
});

it('forgets the billing state when it goes (signing out), so the next account never sees it', async () => {
  server(PAST_DUE);
  const { unmount } = render(<BillingBanner />);
  await screen.findByTestId('billing-banner');
  expect(myBilling.get()?.status).toBe('past_due');
  unmount();
  expect(myBilling.get()).toBeNull();
});
