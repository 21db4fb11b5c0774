import { useEffect } from 'react';
import { loadBilling, longDate, myBilling, planAtRisk, planName } from '../lib/billing';
import { useLocation } from '../lib/router';
import { useStore } from '../lib/store';
import { Link } from './Link';

/** Read again on returning to the page after at least this long. */
export const BILLING_REFRESH_MS = 60_000;

/** A banner across the app while a payment is overdue: `past_due` (the plan stays until
 * `downgrade_at`) or `lapsed` (on the free plan until it is paid), with a link to the Plans
 * page. Nothing otherwise. The billing state is read once per sign-in (mount it keyed by the
 * account), and again on returning to the page after a while; never per navigation. */
export function BillingBanner({ refreshMs = BILLING_REFRESH_MS }: { refreshMs?: number }) {
  const billing = useStore(myBilling);
  const onPlansPage = useLocation().split('?')[0].replace(/\/+$/, '') === '/plans';

  useEffect(() => {
    let last = 0;
    const controller = new AbortController();
    async function check() {
      last = Date.now();
      try {
        // quiet401: a background check must not send someone to sign in in the middle of typing.
        await loadBilling({ quiet401: true, signal: controller.signal });
      } catch {
        // Offline, or the server is busy: what is shown stays; the next check tries again.
      }
    }
    void check();
    const onVisible = () => document.visibilityState !== 'hidden' && Date.now() - last >= refreshMs && void check();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      controller.abort();
      document.removeEventListener('visibilitychange', onVisible);
      // Another account may sign in next: nothing of this one's billing stays.
      myBilling.set(null);
    };
  }, [refreshMs]);

  if (!billing || (billing.status !== 'past_due' && billing.status !== 'lapsed')) return null;
  const plan = planAtRisk(billing);
  const link = onPlansPage ? null : (
    <>
      {' '}
      <Link href="/plans">Go to Plans</Link>
    </>
  );
  return (
    <section
      className={`billing-banner billing-${billing.status}`}
      role="status"
      aria-label="Payment overdue"
      data-testid="billing-banner"
      data-status={billing.status}
    >
      {billing.status === 'past_due' ? (
        <p>
          Your last payment failed. Update your payment method{' '}
          {billing.downgrade_at ? (
            <>
              before <time dateTime={billing.downgrade_at}>{longDate(billing.downgrade_at)}</time>
            </>
          ) : (
            'soon'
          )}{' '}
          to keep {plan ? `the ${planName(plan)} plan` : 'your plan'}.{link}
        </p>
      ) : (
        <p>Your payment is overdue, so your account is on the free plan until it is paid.{link}</p>
      )}
    </section>
  );
}
