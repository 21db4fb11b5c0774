// The signed-in person's plan: the plan in force, their subscriptions, buying a plan through
// Stripe Checkout and managing billing in Stripe's customer portal. A chunk of its own, loaded
// when the page is opened.

import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import { paths } from '../api/paths';
import type { CheckoutRequest, RedirectUrl } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import {
  buyLabel,
  checkoutOutcome,
  hasLiveSubscription,
  loadBilling,
  monthlyPrice,
  myBilling,
  planName,
  subscriptionStatus,
} from '../lib/billing';
import { fullTime, relativeTime } from '../lib/durations';
import { inOtherWords, isApiError } from '../lib/errors';
import { navigate } from '../lib/router';
import { useStore } from '../lib/store';

/** After a payment, Stripe tells the server by its webhook within seconds: read the plan again
 * after these waits. */
const RECHECK_AFTER_PAYMENT_MS = [3_000, 10_000];

export default function PlansPage() {
  useEffect(() => {
    document.title = 'Plans · Plansmith';
  }, []);
  // Where Checkout sent the person back: said once, then the address is made plain again so a
  // reload does not say it twice.
  const [outcome] = useState(() => checkoutOutcome(location.search));
  useEffect(() => {
    if (outcome) navigate(location.pathname, { replace: true });
  }, [outcome]);

  const billing = useStore(myBilling);
  const [loadError, setLoadError] = useState<unknown>(null);
  /** The Stripe page asked for that could not be opened (`portal` or a plan), and why. */
  const [failed, setFailed] = useState<{ what: string; error: unknown } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      await loadBilling();
    } catch (err) {
      setLoadError(err);
    }
  }, []);

  useEffect(() => {
    void load();
    if (outcome !== 'success') return;
    const timers = RECHECK_AFTER_PAYMENT_MS.map((ms) => setTimeout(() => void loadBilling().catch(() => {}), ms));
    return () => timers.forEach(clearTimeout);
  }, [load, outcome]);

  // Back from Stripe with the browser's back button, the page may be the one kept in memory:
  // its button must not stay busy.
  useEffect(() => {
    const onShow = (e: PageTransitionEvent) => e.persisted && setBusy(null);
    window.addEventListener('pageshow', onShow);
    return () => window.removeEventListener('pageshow', onShow);
  }, []);

  /** Asks the server for a Stripe page and goes there; the button stays busy while the browser
   * leaves. */
  async function goToStripe(what: string, ask: () => Promise<RedirectUrl>) {
    if (busy) return;
    setBusy(what);
    setFailed(null);
    try {
      const { url } = await ask();
      window.location.assign(url);
    } catch (err) {
      setBusy(null);
      // The server's hints name its routes: say it in the page's words.
      const error = isApiError(err, 'not_found')
        ? inOtherWords(err, 'You have no subscription to manage yet.', 'Choose a plan first.')
        : isApiError(err, 'invalid_field')
          ? inOtherWords(err, 'That plan cannot be bought here.', 'Reload the page to see the plans on offer.')
          : err;
      setFailed({ what, error });
    }
  }

  const buy = (plan: string) =>
    goToStripe(plan, () => api.post<RedirectUrl>(paths.checkout(), { plan } satisfies CheckoutRequest));
  const manage = () => goToStripe('portal', () => api.post<RedirectUrl>(paths.billingPortal()));

  const live = billing ? hasLiveSubscription(billing) : false;
  // Not the plan paid for already, nor one an administrator gave.
  const offers = billing?.purchasable.filter((p) => p !== billing.billed_plan && p !== billing.plan) ?? [];

  return (
    <>
      <h1>Plans</h1>
      {outcome === 'success' && (
        <p className="notice notice-info" role="status" data-testid="checkout-outcome">
          Payment received — your plan updates in a moment.
        </p>
      )}
      {outcome === 'cancelled' && (
        <p className="notice notice-info" role="status" data-testid="checkout-outcome">
          Checkout cancelled, nothing was charged.
        </p>
      )}
      {loadError !== null && <ErrorNotice error={loadError} onRetry={() => void load()} />}
      {billing === null && loadError === null && <p aria-busy="true">Loading your plan…</p>}
      {billing !== null && (
        <>
          <section className="account-section" aria-labelledby="plan-heading">
            <h2 id="plan-heading">Your plan</h2>
            <p data-testid="plan-in-force">
              You are on the <strong>{planName(billing.plan)}</strong> plan.
            </p>
            {billing.plan !== billing.billed_plan && billing.status !== 'lapsed' && (
              <p className="muted" data-testid="billed-plan">
                An administrator set this plan for you.{' '}
                {billing.billed_plan === 'free'
                  ? 'Your subscriptions pay for no plan.'
                  : `Your subscriptions pay for the ${planName(billing.billed_plan)} plan.`}
              </p>
            )}
          </section>

          <section className="account-section" aria-labelledby="subscriptions-heading">
            <h2 id="subscriptions-heading">Subscriptions</h2>
            {billing.subscriptions.length === 0 ? (
              <p className="muted">No subscriptions yet.</p>
            ) : (
              <div className="table-scroll" tabIndex={0} role="region" aria-label="Your subscriptions">
                <table className="subscriptions" data-testid="subscriptions">
                  <thead>
                    <tr>
                      <th scope="col">Plan</th>
                      <th scope="col">Status</th>
                      <th scope="col">Price</th>
                      <th scope="col">Last change</th>
                    </tr>
                  </thead>
                  <tbody>
                    {billing.subscriptions.map((s) => (
                      <tr key={s.id} data-testid="subscription" data-status={s.status}>
                        <th scope="row">{planName(s.plan)}</th>
                        <td>{subscriptionStatus(s.status)}</td>
                        <td>{monthlyPrice(s)}</td>
                        <td className="small">
                          <time dateTime={s.updated_at} title={fullTime(s.updated_at)}>
                            {relativeTime(s.updated_at)}
                          </time>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            {billing.payments_enabled && billing.status !== 'none' && (
              <>
                <p className="muted small">Change your card or your plan, see your invoices or cancel, on Stripe's pages.</p>
                <button type="button" className="button" aria-disabled={busy !== null || undefined} onClick={() => void manage()}>
                  {busy === 'portal' ? 'Opening…' : 'Manage billing'}
                </button>
                {failed?.what === 'portal' && <ErrorNotice error={failed.error} />}
              </>
            )}
          </section>

          <section className="account-section" aria-labelledby="change-plan-heading">
            <h2 id="change-plan-heading">Change plan</h2>
            {!billing.payments_enabled ? (
              <p>Plans are changed by an administrator on this server: ask them for another plan.</p>
            ) : live ? (
              <p>To change plan or cancel, use Manage billing above.</p>
            ) : offers.length === 0 ? (
              <p className="muted">No other plan is on offer here.</p>
            ) : (
              <>
                <p>You pay on Stripe's secure checkout page, then come back here.</p>
                <div className="row">
                  {offers.map((p) => (
                    <button
                      key={p}
                      type="button"
                      className="button primary"
                      aria-disabled={busy !== null || undefined}
                      onClick={() => void buy(p)}
                    >
                      {busy === p ? 'Opening checkout…' : buyLabel(p, billing.plan)}
                    </button>
                  ))}
                </div>
                {failed && failed.what !== 'portal' && <ErrorNotice error={failed.error} />}
              </>
            )}
          </section>
        </>
      )}
    </>
  );
}
