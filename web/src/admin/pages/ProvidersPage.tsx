import { useEffect } from 'react';
import { paths } from '../../api/paths';
import type { Provider, ProviderList } from '../../api/types';
import { count } from '../format';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const BREAKER: Record<string, { text: string; tone: string }> = {
  closed: { text: 'Working (breaker closed)', tone: 'pill-ok' },
  half_open: { text: 'Testing again (breaker half open)', tone: 'pill-warn' },
  open: { text: 'Failing (breaker open)', tone: 'pill-bad' },
};

export function ProvidersPage() {
  const res = useFetch<ProviderList>(paths.adminProviders());
  const { reload } = res;
  // Queues and calls in flight change by the second: refresh while the page is open.
  useEffect(() => {
    const timer = setInterval(reload, 10_000);
    return () => clearInterval(timer);
  }, [reload]);
  if (!res.data) return <LoadState res={res} what="the providers" />;
  return (
    <>
      <p className="muted small">In the order the route tries them; refreshed every 10 seconds.</p>
      <div className="cards">
        {res.data.items.map((p, i) => (
          <ProviderCard key={p.name} provider={p} order={i + 1} />
        ))}
      </div>
      {res.data.items.length === 0 && <p>No provider is configured.</p>}
    </>
  );
}

function ProviderCard({ provider: p, order }: { provider: Provider; order: number }) {
  const breaker = BREAKER[p.breaker] ?? { text: p.breaker, tone: 'pill-off' };
  const limit = (n: number | null | undefined) => (n === null || n === undefined ? 'no limit' : count(n));
  return (
    <section className="card" aria-labelledby={`provider-${order}`} data-testid="provider">
      <h2 id={`provider-${order}`}>
        {order}. {p.name}
      </h2>
      <p className="small">
        <span className={`pill ${breaker.tone}`}>{breaker.text}</span>
      </p>
      <dl>
        <dt>Model</dt>
        <dd>{p.model}</dd>
        <dt>Waiting</dt>
        <dd>{count(p.queue_depth)} replies</dd>
        <dt>In flight</dt>
        <dd>
          {count(p.in_flight)}
          {p.max_concurrency ? ` of ${count(p.max_concurrency)}` : ''}
        </dd>
        <dt>Requests</dt>
        <dd>{limit(p.requests_per_minute)} per minute</dd>
        <dt>Tokens</dt>
        <dd>{limit(p.tokens_per_minute)} per minute</dd>
      </dl>
    </section>
  );
}
