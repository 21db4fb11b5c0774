import { useState } from 'react';
import { paths } from '../../api/paths';
import type { AccountList, UsageReport, UsageRow } from '../../api/types';
import { BarChart, ColumnChart } from '../charts';
import { count, money, ms, percent } from '../format';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const GROUPS = [
  { id: 'provider', label: 'Provider' },
  { id: 'model', label: 'Model' },
  { id: 'user', label: 'User' },
  { id: 'day', label: 'Day' },
] as const;
const RANGES = [
  { days: 1, label: 'Last 24 hours' },
  { days: 7, label: 'Last 7 days' },
  { days: 30, label: 'Last 30 days' },
  { days: 90, label: 'Last 90 days' },
] as const;
const METRICS = {
  cost: { label: 'Cost', value: (r: UsageRow) => r.cost_micros, format: money },
  calls: { label: 'Calls', value: (r: UsageRow) => r.calls, format: count },
  tokens: { label: 'Tokens (in + out)', value: (r: UsageRow) => r.input_tokens + r.output_tokens, format: count },
} as const;
type Metric = keyof typeof METRICS;

/** The start of a range ending now, to the minute (so the address, and the request, stays the
 * same across renders). */
function since(days: number): string {
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  return new Date(now - days * 86_400_000).toISOString();
}

export function UsagePage() {
  const [group, setGroup] = useState<string>('provider');
  const [days, setDays] = useState<number>(30);
  const [metric, setMetric] = useState<Metric>('cost');
  const [from] = useState(() => new Map<number, string>());
  if (!from.has(days)) from.set(days, since(days));
  const res = useFetch<UsageReport>(paths.adminUsage({ group_by: group, from: from.get(days) }));
  // Usage by user is keyed by user id: name them by email where the newest accounts say.
  const accounts = useFetch<AccountList>(group === 'user' ? paths.adminUsers({ limit: 200 }) : null);
  const emails = new Map((accounts.data?.items ?? []).map((a) => [a.id, a.email]));
  const name = (key: string) => (group === 'user' ? (emails.get(key) ?? key) : key);
  const m = METRICS[metric];
  const rows = res.data?.items ?? [];
  const chartRows = group === 'day' ? [...rows].sort((a, b) => a.key.localeCompare(b.key)) : [...rows].sort((a, b) => m.value(b) - m.value(a)).slice(0, 12);
  const data = chartRows.map((r) => ({ label: name(r.key), value: m.value(r) }));
  const total = rows.reduce(
    (t, r) => ({ calls: t.calls + r.calls, cost: t.cost + r.cost_micros, tokens: t.tokens + r.input_tokens + r.output_tokens }),
    { calls: 0, cost: 0, tokens: 0 },
  );
  const groupLabel = GROUPS.find((g) => g.id === group)?.label ?? group;

  return (
    <>
      <div className="admin-toolbar">
        <div className="field">
          <label htmlFor="usage-group">Group by</label>
          <select id="usage-group" value={group} onChange={(e) => setGroup(e.target.value)}>
            {GROUPS.map((g) => (
              <option key={g.id} value={g.id}>
                {g.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="usage-range">Time</label>
          <select id="usage-range" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {RANGES.map((r) => (
              <option key={r.days} value={r.days}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="usage-metric">Chart</label>
          <select id="usage-metric" value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
            {Object.entries(METRICS).map(([id, v]) => (
              <option key={id} value={id}>
                {v.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {!res.data ? (
        <LoadState res={res} what="usage" />
      ) : (
        <>
          <p data-testid="usage-total">
            <strong>{money(total.cost)}</strong> for {count(total.calls)} calls and {count(total.tokens)} tokens.
          </p>
          {rows.length === 0 ? (
            <p>No model calls in this time.</p>
          ) : group === 'day' ? (
            <ColumnChart title={`${m.label} per day`} data={data} format={m.format} />
          ) : (
            <BarChart title={`${m.label} by ${groupLabel.toLowerCase()}${rows.length > 12 ? ' (top 12)' : ''}`} data={data} format={m.format} />
          )}
          {rows.length > 0 && <UsageTable rows={rows} groupLabel={groupLabel} name={name} />}
        </>
      )}
    </>
  );
}

function UsageTable({ rows, groupLabel, name }: { rows: UsageRow[]; groupLabel: string; name: (key: string) => string }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label="Usage table">
      <table className="admin-table" data-testid="usage-table">
        <thead>
          <tr>
            <th scope="col">{groupLabel}</th>
            <th scope="col" className="num">Calls</th>
            <th scope="col" className="num">Input tokens</th>
            <th scope="col" className="num">Output tokens</th>
            <th scope="col" className="num">Cost</th>
            <th scope="col" className="num">Errors</th>
            <th scope="col" className="num">Latency p50 / p95</th>
            <th scope="col" className="num">First token p50 / p95</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <th scope="row">{name(r.key)}</th>
              <td className="num">{count(r.calls)}</td>
              <td className="num">{count(r.input_tokens)}</td>
              <td className="num">{count(r.output_tokens)}</td>
              <td className="num">{money(r.cost_micros)}</td>
              <td className="num">{percent(r.error_rate)}</td>
              <td className="num">
                {ms(r.latency_ms_p50)} / {ms(r.latency_ms_p95)}
              </td>
              <td className="num">
                {ms(r.ttft_ms_p50)} / {ms(r.ttft_ms_p95)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
