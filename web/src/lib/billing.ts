// The signed-in person's plan and billing as they read it: plan names, prices, subscription
// states, and the billing state shared by the past-due banner and the Plans page.

import { api, type RequestOptions } from '../api/client';
import { paths } from '../api/paths';
import type { MyBilling, Subscription } from '../api/types';
import { createStore } from './store';

/** The last answer of GET /me/billing for the signed-in person; null until it is known. The
 * banner reads it when the app loads; the Plans page reads it again, and both show the same. */
export const myBilling = createStore<MyBilling | null>(null);

export async function loadBilling(options?: RequestOptions): Promise<MyBilling> {
  const billing = await api.get<MyBilling>(paths.myBilling(), options);
  myBilling.set(billing);
  return billing;
}

const PLAN_ORDER = ['free', 'pro', 'team'];

/** `pro` → "Pro"; an unknown plan keeps its name, capitalised. */
export function planName(plan: string | null | undefined): string {
  if (!plan) return 'Unknown plan';
  return plan[0].toUpperCase() + plan.slice(1);
}

/** "Upgrade to Team" from a smaller plan, else "Choose Pro". */
export function buyLabel(plan: string, current: string): string {
  const rank = (p: string) => PLAN_ORDER.indexOf(p);
  return rank(plan) > rank(current) ? `Upgrade to ${planName(plan)}` : `Choose ${planName(plan)}`;
}

/** An amount in the currency's smallest unit (Stripe's integer amounts: cents for USD or EUR,
 * whole yen for JPY), in `currency` (ISO code, any case): 2000 usd → "$20.00" (en-US). An
 * unknown code is shown as "20.00 XYZ". `locale`: the browser's when not given. */
export function money(amount: number, currency: string, locale?: string): string {
  const code = currency.toUpperCase();
  try {
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency: code });
    // The currency's own minor unit: 2 digits for most, 0 for JPY, 3 for KWD (as Stripe counts).
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(amount / 10 ** digits);
  } catch {
    return `${(amount / 100).toFixed(2)} ${code}`;
  }
}

/** What a subscription costs each month ("$20.00/month"); "–" for one that brings nothing
 * (a trial, a cancelled subscription). */
export function monthlyPrice(subscription: Pick<Subscription, 'mrr_cents' | 'currency' | 'status'>, locale?: string): string {
  const paying = subscription.status === 'active' || subscription.status === 'past_due';
  if (subscription.mrr_cents === 0 && !paying) return '–';
  return `${money(subscription.mrr_cents, subscription.currency, locale)}/month`;
}

const STATUS_NAMES: Record<string, string> = {
  active: 'Active',
  past_due: 'Payment failed',
  unpaid: 'Unpaid',
  trialing: 'Trial',
  incomplete: 'Waiting for the first payment',
  incomplete_expired: 'Never started',
  canceled: 'Cancelled',
  paused: 'Paused',
};

/** Stripe's subscription status in words; an unknown one keeps its name. */
export function subscriptionStatus(status: string): string {
  return STATUS_NAMES[status] ?? status.replace(/_/g, ' ');
}

/** Whether the person has a subscription still running (then plans change in the portal, not
 * through a second Checkout). */
export function hasLiveSubscription(billing: Pick<MyBilling, 'subscriptions'>): boolean {
  return billing.subscriptions.some((s) => s.status !== 'canceled' && s.status !== 'incomplete_expired');
}

/** "June 12, 2025" (en-US): the day, in the browser's time zone and language. */
export function longDate(iso: string, locale?: string): string {
  return new Date(iso).toLocaleDateString(locale, { dateStyle: 'long' });
}

/** The plan a failed payment puts at risk: the one the subscriptions pay for. */
export function planAtRisk(billing: Pick<MyBilling, 'plan' | 'billed_plan'>): string | null {
  if (billing.billed_plan !== 'free') return billing.billed_plan;
  return billing.plan !== 'free' ? billing.plan : null;
}

/** `?checkout=success` or `?checkout=cancelled`, as Stripe Checkout sends people back. */
export function checkoutOutcome(search: string): 'success' | 'cancelled' | null {
  const outcome = new URLSearchParams(search).get('checkout');
  return outcome === 'success' || outcome === 'cancelled' ? outcome : null;
}
