// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { CurrencyForecast, FeatureUsage, ProductUsageReport } from '../../api/types';
import { defaultFilters } from '../business';
import { downloadCsv } from '../csv';
import { useFetch, type Fetched } from '../useFetch';
import { BusinessPage, Forecast, ProductUsage } from './BusinessPage';

vi.mock('../useFetch', () => ({ useFetch: vi.fn() }));
vi.mock('../csv', async (original) => ({ ...(await original<typeof import('../csv')>()), downloadCsv: vi.fn() }));

afterEach(cleanup);

const MEASURED: CurrencyForecast = {
  currency: 'usd',
  model: 'holt_linear',
  alpha: 0.9,
  beta: 0.2,
  history: [
    { month: '2026-09', mrr: 100_000 },
    { month: '2026-10', mrr: 120_000 },
    { month: '2026-11', mrr: 130_000 },
    { month: '2026-12', mrr: 150_000 },
  ],
  forecast: [
    { month: '2027-01', mrr: 160_000, low80: 150_000, high80: 170_000, low95: 140_000, high95: 180_000 },
    { month: '2027-02', mrr: 170_000, low80: 150_000, high80: 190_000, low95: 130_000, high95: 210_000 },
  ],
  backtest: { forecasts: 12, mape: 0.125, mase: 0.8, coverage80: 0.5, coverage95: 0.92 },
  cohort_view: [
    { month: '2027-01', mrr: 158_000 },
    { month: '2027-02', mrr: 165_000 },
  ],
  note: null,
};

it('shows the forecast with its backtest beside it: MAPE, MASE and coverage', () => {
  render(<Forecast fc={MEASURED} />);
  const pair = screen.getByTestId('forecast');
  expect(within(pair).getByRole('img', { name: /^MRR in USD over 4 months, now \$1\.5K.*Feb 2027: \$1\.7K/ })).toBeTruthy();
  const backtest = within(pair).getByTestId('backtest');
  expect(backtest.textContent).toContain('MAPE13%');
  expect(backtest.textContent).toContain('MASE0.80 (beats the naive forecast)');
  expect(backtest.textContent).toContain('80% coverage50% — the intervals are too narrow for this history');
  expect(backtest.textContent).toContain('95% coverage92%');
  expect(backtest.textContent).toContain('12 past forecasts');
  // Both bands and both lines are drawn.
  expect(pair.querySelectorAll('path.series-band80, path.series-band95, path.series-history, path.series-forecast')).toHaveLength(4);
  expect(screen.getByRole('region', { name: 'MRR and forecast (USD)' }).querySelectorAll('tbody tr')).toHaveLength(6);
});

it('shows the note instead of a forecast when the server gives one', () => {
  render(<Forecast fc={{ ...MEASURED, forecast: [], note: 'A forecast needs at least 4 months of MRR; there are 2.' }} />);
  expect(screen.getByTestId('forecast-note').textContent).toBe('No forecast for USD: A forecast needs at least 4 months of MRR; there are 2.');
  expect(screen.queryByRole('img')).toBeNull();
  expect(screen.queryByTestId('backtest')).toBeNull();
});

it('shows no forecast whose error could not be measured', () => {
  render(<Forecast fc={{ ...MEASURED, backtest: { forecasts: 0, mape: null, mase: null, coverage80: null, coverage95: null } }} />);
  expect(screen.getByTestId('forecast-note').textContent).toContain('its error cannot be measured yet');
  expect(screen.queryByRole('img')).toBeNull();
});

it('says when there is nothing to forecast', () => {
  render(<Forecast fc={undefined} />);
  expect(screen.getByText('No revenue yet: nothing to forecast.')).toBeTruthy();
});

// ——— Product usage ———

const feature = (kind: string, name: string | null, events: number, accounts: number): FeatureUsage => ({ kind, name, events, accounts });

/** Fourteen events as the server lists them (by events), so the chart has to rank and cut them. */
const USAGE: ProductUsageReport = {
  features: [
    feature('message_sent', null, 900, 40),
    feature('session_started', 'quick-brief', 70, 55),
    feature('feature_used', 'section_edit', 50, 12),
    feature('step_completed', 'brief', 45, 20),
    feature('document_exported', 'docx', 30, 12),
    feature('feature_used', 'reply_retry', 30, 9),
    feature('document_exported', 'md', 20, 12),
    feature('session_completed', 'quick-brief', 18, 18),
    feature('signed_up', 'direct', 16, 16),
    feature('session_abandoned', 'quick-brief', 8, 8),
    feature('feature_used', 'revision_restore', 6, 5),
    feature('plan_changed', 'pro', 4, 4),
    feature('signed_up', 'newsletter', 3, 3),
    feature('feature_used', 'data_export', 2, 2),
  ],
  daily_active: [
    { day: '2026-02-27', accounts: 3 },
    { day: '2026-03-02', accounts: 5 },
  ],
  average_dau: 1.6,
  mau: 30,
  stickiness: 1.6 / 30,
};

function chartLabels(img: HTMLElement): string[] {
  return Array.from(img.querySelectorAll('text.chart-label'), (t) => t.textContent ?? '');
}

it('charts the twelve events most accounts used, labelled with what they were about, and lists them all', () => {
  render(<ProductUsage report={USAGE} from="2026-02-26" to="2026-03-02" />);
  const chart = screen.getByRole('img', { name: /^Feature usage: distinct accounts per event \(top 12\): 12 entries; highest session_started: quick-brief at 55\.$/ });
  const labels = chartLabels(chart);
  expect(labels).toHaveLength(12);
  expect(labels.slice(0, 5)).toEqual(['session_started: quick-brief', 'message_sent', 'step_completed: brief', 'session_completed: quick-brief', 'signed_up: direct']);
  // Not cut: the label column is wide enough for "kind: name".
  expect(labels).toContain('feature_used: section_edit');
  expect(labels).toContain('feature_used: revision_restore');
  // The two least used are in the table only.
  expect(labels).not.toContain('signed_up: newsletter');
  expect(labels).not.toContain('feature_used: data_export');
  expect(chart.querySelectorAll('rect.chart-bar')).toHaveLength(12);

  const table = screen.getByTestId('features-table');
  expect(Array.from(table.querySelectorAll('thead th'), (th) => th.textContent)).toEqual(['Event', 'Name', 'Events', 'Accounts']);
  const rows = table.querySelectorAll('tbody tr');
  expect(rows).toHaveLength(14);
  expect(Array.from(rows[1].children, (c) => c.textContent)).toEqual(['message_sent', '–', '900', '40']);
});

it('downloads the feature usage and the daily active accounts as CSV', () => {
  render(<ProductUsage report={USAGE} from="2026-02-26" to="2026-03-02" />);
  fireEvent.click(screen.getByRole('button', { name: 'Download CSV of Feature usage' }));
  expect(vi.mocked(downloadCsv)).toHaveBeenCalledTimes(1);
  const [name, text] = vi.mocked(downloadCsv).mock.calls[0];
  expect(name).toBe('feature-usage.csv');
  const lines = text.split('\r\n');
  expect(lines[0]).toBe('Event,Name,Events,Accounts');
  expect(lines[1]).toBe('session_started,quick-brief,70,55');
  expect(lines[2]).toBe('message_sent,,900,40');
  expect(lines).toContain('feature_used,section_edit,50,12');
  expect(lines.filter(Boolean)).toHaveLength(15);

  fireEvent.click(screen.getByRole('button', { name: 'Download CSV of Daily active accounts' }));
  const [dayName, days] = vi.mocked(downloadCsv).mock.calls[1];
  expect(dayName).toBe('daily-active-accounts.csv');
  expect(days).toBe('Day,Active accounts\r\n2026-02-26,0\r\n2026-02-27,3\r\n2026-02-28,0\r\n2026-03-01,0\r\n2026-03-02,5\r\n');
});

it('charts the accounts active each day of the range, days without any at 0', () => {
  render(<ProductUsage report={USAGE} from="2026-02-26" to="2026-03-02" />);
  const chart = screen.getByRole('img', { name: 'Daily active accounts (UTC days): 5 entries; highest 2026-03-02 at 5.' });
  const heights = Array.from(chart.querySelectorAll('rect.chart-bar'), (r) => Number(r.getAttribute('height')));
  expect(heights).toHaveLength(5);
  expect(heights.map((h) => h > 0)).toEqual([false, true, false, false, true]);
  expect(heights[4]).toBeGreaterThan(heights[1]);
  expect(screen.getByTestId('daily-active-table').querySelectorAll('tbody tr')).toHaveLength(5);
});

it('says when there was no product event in the range', () => {
  render(<ProductUsage report={{ features: [], daily_active: [], average_dau: 0, mau: 0, stickiness: null }} from="2026-02-26" to="2026-03-02" />);
  expect(screen.getByText('No product events in these days.')).toBeTruthy();
  expect(screen.getByText('No account was active in these days.')).toBeTruthy();
  expect(screen.queryByRole('img')).toBeNull();
  expect(screen.queryByTestId('features-table')).toBeNull();
});

// ——— The page: the "Active users" tile and the usage report it asks for ———

const USAGE_PATH = '/api/v1/admin/analytics/usage';
let usageState: { data?: ProductUsageReport; error: unknown; loading: boolean };

function fetched(path: string | null): Fetched<unknown> {
  const base = { reload: () => {}, setData: () => {} };
  if (path?.startsWith(USAGE_PATH)) return { ...base, data: usageState.data, error: usageState.error, loading: usageState.loading };
  return { ...base, data: undefined, error: null, loading: true };
}

beforeEach(() => {
  vi.mocked(useFetch).mockReset();
  vi.mocked(useFetch).mockImplementation(fetched as typeof useFetch);
  vi.mocked(downloadCsv).mockReset();
  usageState = { data: USAGE, error: null, loading: false };
});

const activeUsers = (container: HTMLElement) => container.querySelector<HTMLElement>('[data-testid=kpi][data-kpi=active-users]')!;
const usagePaths = () => vi.mocked(useFetch).mock.calls.map(([p]) => p).filter((p): p is string => !!p?.startsWith(USAGE_PATH));

it('shows the active users (MAU) with the average DAU and stickiness, from the usage of the filtered days', () => {
  const { container } = render(<BusinessPage />);
  expect(screen.getAllByTestId('kpi')).toHaveLength(10);
  const tile = activeUsers(container);
  expect(tile.querySelector('dt')?.textContent).toBe('Active users');
  expect(tile.querySelector('.kpi-value')?.textContent).toBe('30');
  expect(tile.querySelector('.kpi-note')?.textContent).toBe('Average DAU 1.6 · stickiness 5.3%');
  expect(tile.title).toMatch(/30 days up to the last day/);

  // The same days and segment as the funnel and retention.
  const { fromDay, toDay } = defaultFilters();
  expect(usagePaths().at(-1)).toBe(`${USAGE_PATH}?from=${fromDay}&to=${toDay}`);
  fireEvent.change(screen.getByLabelText('Plan'), { target: { value: 'pro' } });
  fireEvent.change(screen.getByLabelText('Sign-up channel'), { target: { value: 'direct' } });
  fireEvent.click(screen.getByRole('button', { name: 'Show figures' }));
  expect(usagePaths().at(-1)).toBe(`${USAGE_PATH}?from=${fromDay}&to=${toDay}&plan=pro&channel=direct`);
  expect(screen.getByRole('heading', { level: 2, name: 'Product usage' })).toBeTruthy();
  expect(screen.getByRole('img', { name: /^Feature usage: distinct accounts per event/ })).toBeTruthy();
});

it('shows no stickiness without active accounts, and the loading and failed states like the other tiles', () => {
  usageState = { data: { features: [], daily_active: [], average_dau: 0, mau: 0, stickiness: null }, error: null, loading: false };
  const first = render(<BusinessPage />);
  expect(activeUsers(first.container).querySelector('.kpi-value')?.textContent).toBe('0');
  expect(activeUsers(first.container).querySelector('.kpi-note')?.textContent).toBe('Average DAU 0 · stickiness –');
  first.unmount();

  usageState = { error: null, loading: true };
  const loading = render(<BusinessPage />);
  expect(activeUsers(loading.container).querySelector('.kpi-value')?.textContent).toBe('…');
  expect(activeUsers(loading.container).querySelector('.kpi-note')).toBeNull();
  expect(screen.getByText('Loading product usage…')).toBeTruthy();
  loading.unmount();

  usageState = { error: new Error('down'), loading: false };
  const failed = render(<BusinessPage />);
  expect(activeUsers(failed.container).querySelector('.kpi-value')?.textContent).toBe('unavailable');
});
