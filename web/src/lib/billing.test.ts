import { expect, it } from 'vitest';
import { buyLabel, checkoutOutcome, hasLiveSubscription, longDate, money, monthlyPrice, planAtRisk, planName, subscriptionStatus } from './billing';

it('formats integer amounts in the currency’s smallest unit, with its symbol', () => {
  expect(money(2000, 'usd', 'en-US')).toBe('$20.00');
  expect(money(123456, 'USD', 'en-US')).toBe('$1,234.56');
  expect(money(0, 'usd', 'en-US')).toBe('$0.00');
  expect(money(1999, 'eur', 'en-US')).toBe('€19.99');
  expect(money(1999, 'eur', 'de-DE')).toBe('19,99\u00a0€');
  expect(money(2000, 'gbp', 'en-GB')).toBe('£20.00');
  // Zero-decimal and three-decimal currencies count whole units and thousandths, as Stripe does.
  expect(money(2000, 'jpy', 'en-US')).toBe('¥2,000');
  expect(money(12345, 'kwd', 'en-US')).toBe('KWD\u00a012.345');
});

it('shows a currency code it cannot format as a plain amount and the code', () => {
  expect(money(2000, 'not-a-code', 'en-US')).toBe('20.00 NOT-A-CODE');
});

it('prices a subscription per month; nothing for one that pays nothing', () => {
  expect(monthlyPrice({ mrr_cents: 2000, currency: 'usd', status: 'active' }, 'en-US')).toBe('$20.00/month');
  expect(monthlyPrice({ mrr_cents: 2000, currency: 'usd', status: 'past_due' }, 'en-US')).toBe('$20.00/month');
  expect(monthlyPrice({ mrr_cents: 0, currency: 'usd', status: 'active' }, 'en-US')).toBe('$0.00/month');
  expect(monthlyPrice({ mrr_cents: 0, currency: 'usd', status: 'canceled' }, 'en-US')).toBe('–');
  expect(monthlyPrice({ mrr_cents: 0, currency: 'usd', status: 'trialing' }, 'en-US')).toBe('–');
});

it('names plans and subscription states', () => {
  expect(planName('pro')).toBe('Pro');
  expect(planName('team')).toBe('Team');
  expect(planName(null)).toBe('Unknown plan');
  expect(subscriptionStatus('past_due')).toBe('Payment failed');
  expect(subscriptionStatus('canceled')).toBe('Cancelled');
  expect(subscriptionStatus('something_new')).toBe('something new');
  expect(buyLabel('pro', 'free')).toBe('Upgrade to Pro');
  expect(buyLabel('team', 'pro')).toBe('Upgrade to Team');
  expect(buyLabel('pro', 'team')).toBe('Choose Pro');
});

it('the plan at risk is the one paid for, else the one in force', () => {
  expect(planAtRisk({ plan: 'pro', billed_plan: 'pro' })).toBe('pro');
  expect(planAtRisk({ plan: 'team', billed_plan: 'pro' })).toBe('pro');
  expect(planAtRisk({ plan: 'team', billed_plan: 'free' })).toBe('team');
  expect(planAtRisk({ plan: 'free', billed_plan: 'free' })).toBeNull();
});

it('a running subscription is any not cancelled or expired', () => {
  const sub = (status: string) => ({ id: 's', status, plan: 'pro', currency: 'usd', mrr_cents: 0, updated_at: '2025-01-01T00:00:00Z' });
  expect(hasLiveSubscription({ subscriptions: [] })).toBe(false);
  expect(hasLiveSubscription({ subscriptions: [sub('canceled'), sub('incomplete_expired')] })).toBe(false);
  expect(hasLiveSubscription({ subscriptions: [sub('canceled'), sub('past_due')] })).toBe(true);
});

it('reads where Checkout sent the person back, and dates as a day', () => {
  expect(checkoutOutcome('?checkout=success')).toBe('success');
  expect(checkoutOutcome('?checkout=cancelled')).toBe('cancelled');
  expect(checkoutOutcome('?checkout=other')).toBeNull();
  expect(checkoutOutcome('')).toBeNull();
  expect(longDate('2025-06-12T12:00:00Z', 'en-US')).toBe('June 12, 2025');
});
