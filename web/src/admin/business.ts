// The figures of the Business page derived from the analytics API (docs/analytics.md): no
// currency is ever converted; each figure is for the one currency shown.

import type { CsatGroup, CurrencyMrr, DailyActive, FeatureUsage, FunnelStage, MrrCohort, MrrMonth, ProductUsageReport, RetentionCohort } from '../api/types';

// ——— Months and days (UTC, as the API counts them) ———

/** "2026-12" of a date, in UTC. */
export function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** "2026-12-04" of a date, in UTC. */
export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** "2026-12" + -11 → "2026-01". */
export function addMonths(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number);
  return monthOf(new Date(Date.UTC(y, m - 1 + n, 1)));
}

/** "2026-12-04" + -89 → "2026-09-06". */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return dayOf(new Date(Date.UTC(y, m - 1, d + n)));
}

/** Months from `from` to `to`, both counted ("2026-01", "2026-12" → 12); 0 when reversed. */
export function monthSpan(from: string, to: string): number {
  const [fy, fm] = from.split('-').map(Number);
  const [ty, tm] = to.split('-').map(Number);
  return Math.max(0, (ty - fy) * 12 + (tm - fm) + 1);
}

const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "2026-03" → "Mar 2026". */
export function monthName(month: string): string {
  const [y, m] = month.split('-').map(Number);
  return MONTH_NAMES[m - 1] ? `${MONTH_NAMES[m - 1]} ${y}` : month;
}

// ——— The filters ———

export interface Filters {
  fromMonth: string;
  toMonth: string;
  fromDay: string;
  toDay: string;
  plan: string;
  channel: string;
  workflow: string;
}

/** The last 12 months (this one included) and the last 90 days (today included). */
export function defaultFilters(now: Date = new Date()): Filters {
  const toMonth = monthOf(now);
  const toDay = dayOf(now);
  return { fromMonth: addMonths(toMonth, -11), toMonth, fromDay: addDays(toDay, -89), toDay, plan: '', channel: '', workflow: '' };
}

export type FilterProblems = Partial<Record<keyof Filters, string>>;

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** What the server would refuse, said before asking it: each range in order, months at most
 * 120 apart (the API's limit), dates well formed. */
export function checkFilters(f: Filters): FilterProblems {
  const problems: FilterProblems = {};
  if (!MONTH.test(f.fromMonth)) problems.fromMonth = 'Give a month (YYYY-MM).';
  if (!MONTH.test(f.toMonth)) problems.toMonth = 'Give a month (YYYY-MM).';
  if (!problems.fromMonth && !problems.toMonth) {
    if (f.fromMonth > f.toMonth) problems.fromMonth = 'The first month comes after the last one.';
    else if (monthSpan(f.fromMonth, f.toMonth) > 120) problems.fromMonth = 'At most 120 months (ten years) at a time.';
  }
  if (!DAY.test(f.fromDay) || Number.isNaN(Date.parse(f.fromDay))) problems.fromDay = 'Give a date (YYYY-MM-DD).';
  if (!DAY.test(f.toDay) || Number.isNaN(Date.parse(f.toDay))) problems.toDay = 'Give a date (YYYY-MM-DD).';
  if (!problems.fromDay && !problems.toDay && f.fromDay > f.toDay) problems.fromDay = 'The first day comes after the last one.';
  return problems;
}

/** An empty filter is no filter (the query leaves it out). */
export const orNone = (value: string): string | undefined => value.trim() || undefined;

// ——— KPIs ———

/** The change from `previous` to `current` as a share of `previous`; none from zero. */
export function growth(previous: number | null | undefined, current: number | null | undefined): number | null {
  if (previous === null || previous === undefined || current === null || current === undefined || previous <= 0) return null;
  return (current - previous) / previous;
}

/** The currency shown first: the one with the most MRR in the latest month, then by code. */
export function defaultCurrency(currencies: readonly CurrencyMrr[]): string | null {
  let best: { code: string; mrr: number } | null = null;
  for (const c of [...currencies].sort((a, b) => a.currency.localeCompare(b.currency))) {
    const mrr = c.months.at(-1)?.mrr ?? 0;
    if (!best || mrr > best.mrr) best = { code: c.currency, mrr };
  }
  return best?.code ?? null;
}

export interface RevenueKpis {
  /** The latest month of the range. */
  month: string;
  /** That month is the current one: its figures are the month so far. */
  monthToDate: boolean;
  mrr: number;
  /** MRR against the end of the month before (`mrr_start`). */
  mrrGrowth: number | null;
  arr: number;
  customers: number;
  newCustomers: number;
  reactivatedCustomers: number;
  churnedCustomers: number;
  customerChurnRate: number | null;
  /** Net MRR retention of the month: 1 − net MRR churn rate. */
  nrr: number | null;
  arpa: number | null;
  ltv: number | null;
}

export function revenueKpis(months: readonly MrrMonth[], currentMonth: string): RevenueKpis | null {
  const m = months.at(-1);
  if (!m) return null;
  return {
    month: m.month,
    monthToDate: m.month === currentMonth,
    mrr: m.mrr,
    mrrGrowth: growth(m.mrr_start, m.mrr),
    arr: m.arr,
    customers: m.customers,
    newCustomers: m.new_customers,
    reactivatedCustomers: m.reactivated_customers,
    churnedCustomers: m.churned_customers,
    customerChurnRate: m.customer_churn_rate ?? null,
    nrr: m.net_mrr_churn_rate === null || m.net_mrr_churn_rate === undefined ? null : 1 - m.net_mrr_churn_rate,
    arpa: m.arpa ?? null,
    ltv: m.ltv ?? null,
  };
}

export interface ActivationKpis {
  signUps: number;
  /** Accounts that completed a plan (and every stage before). */
  completed: number;
  /** Of the sign-ups, the share that completed a plan. */
  activation: number | null;
  paid: number;
}

export function activationKpis(stages: readonly FunnelStage[]): ActivationKpis {
  const at = (stage: string) => stages.find((s) => s.stage === stage);
  const signUps = at('signed_up')?.accounts ?? 0;
  const completed = at('plan_completed')?.accounts ?? 0;
  return { signUps, completed, activation: signUps > 0 ? completed / signUps : null, paid: at('paid')?.accounts ?? 0 };
}

/** CSAT over every workflow: the means weighted by the number of surveys. */
export function overallCsat(groups: readonly CsatGroup[]): { surveys: number; average: number; percent: number } | null {
  const surveys = groups.reduce((n, g) => n + g.surveys, 0);
  if (surveys === 0) return null;
  const average = groups.reduce((t, g) => t + g.average_csat * g.surveys, 0) / surveys;
  return { surveys, average, percent: ((average - 1) / 4) * 100 };
}

export interface ActiveUserKpis {
  /** Distinct accounts active in the 30 days up to the end of the range. */
  mau: number;
  /** The mean of the daily active accounts over every day of the range. */
  averageDau: number;
  /** Average DAU ÷ MAU, as the server gives it; none without any active account. */
  stickiness: number | null;
}

/** The "Active users" tile: MAU, with the average DAU and stickiness beside it. */
export function activeUserKpis(report: ProductUsageReport): ActiveUserKpis {
  const stickiness = report.stickiness ?? null;
  return { mau: report.mau, averageDau: report.average_dau, stickiness: stickiness !== null && Number.isFinite(stickiness) ? stickiness : null };
}

/** An average of accounts as people read it: 3.456 → "3.5", 0 → "0", 1234.5 → "1,235". */
export function averageAccounts(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(1).replace(/\.0$/, '');
}

// ——— Charts ———

/** The movements of a month in the order they are stacked: gains up, losses down. */
export const MOVEMENTS = [
  { key: 'new', name: 'New', className: 'series-new' },
  { key: 'expansion', name: 'Expansion', className: 'series-expansion' },
  { key: 'reactivation', name: 'Reactivation', className: 'series-reactivation' },
  { key: 'contraction', name: 'Contraction', className: 'series-contraction' },
  { key: 'churn', name: 'Churn', className: 'series-churn' },
] as const;

export function movementValues(months: readonly MrrMonth[]): number[][] {
  return months.map((m) => MOVEMENTS.map((s) => m[s.key]));
}

/** MRR cohorts as rows of net MRR retention by months since the cohort's first month. */
export function mrrCohortRows(cohorts: readonly MrrCohort[]): { label: string; values: (number | null)[] }[] {
  return cohorts.map((c) => ({ label: c.cohort, values: c.months.map((m) => m.net_mrr_retention ?? null) }));
}

export function retentionRows(cohorts: readonly RetentionCohort[]): { label: string; values: (number | null)[] }[] {
  return cohorts.map((c) => ({ label: c.week, values: [...c.active] }));
}

export const STAGE_NAMES: Record<string, string> = {
  signed_up: 'Signed up',
  first_session: 'First session',
  first_step_completed: 'First step completed',
  plan_completed: 'Plan completed',
  paid: 'Paid',
};

export const MEASURE_NAMES: Record<string, string> = {
  elapsed: 'Elapsed (start to completed)',
  active: 'Active time',
  estimate: 'Their estimate without Plansmith',
  saved: 'Saved (estimate − active)',
};

/** Money in a CSV file: the amount in the currency's unit, as a number (cents ÷ 100). */
export const csvMoney = (amount: number | null | undefined): number | null => (amount === null || amount === undefined ? null : amount / 100);

/** A share in a CSV file: a percentage with two decimals. */
export const csvPercent = (value: number | null | undefined): number | null =>
  value === null || value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10_000) / 100;

// ——— Product usage ———

/** An event of the usage report as a label: its kind, with what it was about when known
 * ("feature_used: section_edit", "document_exported: docx", "message_sent"). */
export function featureLabel(f: Pick<FeatureUsage, 'kind' | 'name'>): string {
  const name = f.name?.trim();
  return name ? `${f.kind}: ${name}` : f.kind;
}

/** The events by distinct accounts, most first (then by events, then by label); the first
 * `limit` of them when given. */
export function rankFeatures(features: readonly FeatureUsage[], limit?: number): FeatureUsage[] {
  const sorted = [...features].sort(
    (a, b) => b.accounts - a.accounts || b.events - a.events || featureLabel(a).localeCompare(featureLabel(b)),
  );
  return limit === undefined ? sorted : sorted.slice(0, limit);
}

/** The most used events on the chart. */
export const TOP_FEATURES = 12;

/** The active accounts of every day from `from` to `to` (both counted): the days the report
 * leaves out (no event) as 0. A range that cannot be counted (malformed, reversed, longer than
 * the API allows) gives the report's days as they are. */
export function dailyActiveDays(daily: readonly DailyActive[], from: string, to: string): DailyActive[] {
  const byDay = new Map(daily.map((d) => [d.day, d.accounts]));
  const span = (Date.parse(to) - Date.parse(from)) / 86_400_000;
  if (!(span >= 0 && span <= 3660)) return [...daily];
  const days: DailyActive[] = [];
  for (let day = from, i = 0; i <= span; day = addDays(day, 1), i++) {
    days.push({ day, accounts: byDay.get(day) ?? 0 });
    byDay.delete(day);
  }
  // Whatever the report has outside the range is kept, in order.
  for (const [day, accounts] of byDay) days.push({ day, accounts });
  return days.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
}
