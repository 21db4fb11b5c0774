import { describe, expect, it } from 'vitest';
import type { CurrencyMrr, FeatureUsage, MrrMonth } from '../api/types';
import {
  activationKpis,
  activeUserKpis,
  addDays,
  addMonths,
  averageAccounts,
  checkFilters,
  csvMoney,
  csvPercent,
  dailyActiveDays,
  defaultCurrency,
  defaultFilters,
  featureLabel,
  growth,
  monthName,
  monthSpan,
  movementValues,
  mrrCohortRows,
  overallCsat,
  rankFeatures,
  revenueKpis,
} from './business';

/** docs/analytics.md's example month, and the one before it. */
const MARCH: MrrMonth = {
  month: '2025-03',
  new: 0,
  expansion: 0,
  contraction: 0,
  churn: -8000,
  reactivation: 0,
  net: -8000,
  mrr_start: 10000,
  mrr: 2000,
  arr: 24000,
  customers_start: 2,
  customers: 1,
  new_customers: 0,
  churned_customers: 1,
  reactivated_customers: 0,
  arpa: 2000,
  customer_churn_rate: 0.5,
  net_mrr_churn_rate: 0.8,
  ltv: 8000,
};
const FEBRUARY: MrrMonth = {
  ...MARCH,
  month: '2025-02',
  new: 2000,
  expansion: 3000,
  churn: 0,
  net: 5000,
  mrr_start: 5000,
  mrr: 10000,
  arr: 120000,
  customers_start: 1,
  customers: 2,
  new_customers: 1,
  churned_customers: 0,
  arpa: 5000,
  customer_churn_rate: 0,
  net_mrr_churn_rate: -0.6,
  ltv: null,
};

describe('months and days', () => {
  it('counts months and days across years, in UTC', () => {
    expect(addMonths('2026-12', -11)).toBe('2026-01');
    expect(addMonths('2026-01', -1)).toBe('2025-12');
    expect(addMonths('2025-11', 3)).toBe('2026-02');
    expect(addDays('2026-12-04', -89)).toBe('2026-09-06');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(monthSpan('2026-01', '2026-12')).toBe(12);
    expect(monthSpan('2016-01', '2025-12')).toBe(120);
    expect(monthSpan('2026-05', '2026-03')).toBe(0);
    expect(monthName('2026-03')).toBe('Mar 2026');
  });

  it('defaults to the last 12 months and the last 90 days', () => {
    const f = defaultFilters(new Date('2026-12-04T23:30:00Z'));
    expect(f).toEqual({ fromMonth: '2026-01', toMonth: '2026-12', fromDay: '2026-09-06', toDay: '2026-12-04', plan: '', channel: '', workflow: '' });
    expect(checkFilters(f)).toEqual({});
  });

  it('says what the server would refuse before asking it', () => {
    const f = defaultFilters(new Date('2026-12-04T00:00:00Z'));
    expect(checkFilters({ ...f, fromMonth: '2027-01' }).fromMonth).toMatch(/after/);
    expect(checkFilters({ ...f, fromMonth: '2016-12' }).fromMonth).toMatch(/120 months/);
    expect(checkFilters({ ...f, fromMonth: '2017-01' })).toEqual({});
    expect(checkFilters({ ...f, toMonth: '' }).toMonth).toMatch(/YYYY-MM/);
    expect(checkFilters({ ...f, fromDay: '2026-12-05' }).fromDay).toMatch(/after/);
    expect(checkFilters({ ...f, toDay: '4/12/2026' }).toDay).toMatch(/YYYY-MM-DD/);
  });
});

describe('KPIs', () => {
  it('growth is the change as a share of the start, none from zero', () => {
    expect(growth(10000, 2000)).toBeCloseTo(-0.8);
    expect(growth(5000, 10000)).toBe(1);
    expect(growth(2000, 2000)).toBe(0);
    expect(growth(0, 2000)).toBeNull();
    expect(growth(null, 2000)).toBeNull();
  });

  it('reads the latest month: MRR growth against its start, NRR as 1 − net MRR churn', () => {
    const k = revenueKpis([FEBRUARY, MARCH], '2026-12')!;
    expect(k).toMatchObject({
      month: '2025-03',
      monthToDate: false,
      mrr: 2000,
      arr: 24000,
      customers: 1,
      newCustomers: 0,
      churnedCustomers: 1,
      customerChurnRate: 0.5,
      arpa: 2000,
      ltv: 8000,
    });
    expect(k.mrrGrowth).toBeCloseTo(-0.8);
    expect(k.nrr).toBeCloseTo(0.2);
    // Expansion outweighing the losses: above 100 %.
    expect(revenueKpis([FEBRUARY], '2025-02')!.nrr).toBeCloseTo(1.6);
    expect(revenueKpis([FEBRUARY], '2025-02')!.monthToDate).toBe(true);
    expect(revenueKpis([{ ...MARCH, net_mrr_churn_rate: null }], '2026-12')!.nrr).toBeNull();
    expect(revenueKpis([], '2026-12')).toBeNull();
  });

  it('shows first the currency with the most MRR now', () => {
    const cur = (currency: string, mrr: number): CurrencyMrr => ({ currency, cohorts: [], months: [{ ...MARCH, mrr }] });
    expect(defaultCurrency([cur('eur', 84000), cur('usd', 203200), cur('gbp', 11400)])).toBe('usd');
    expect(defaultCurrency([cur('usd', 0), cur('eur', 0)])).toBe('eur');
    expect(defaultCurrency([])).toBeNull();
  });

  it('activation: sign-ups that completed a plan', () => {
    const stages = [
      { stage: 'signed_up', accounts: 200, conversion: 1, overall: 1 },
      { stage: 'first_session', accounts: 80, conversion: 0.4, overall: 0.4 },
      { stage: 'first_step_completed', accounts: 60, conversion: 0.75, overall: 0.3 },
      { stage: 'plan_completed', accounts: 30, conversion: 0.5, overall: 0.15 },
      { stage: 'paid', accounts: 6, conversion: 0.2, overall: 0.03 },
    ];
    expect(activationKpis(stages)).toEqual({ signUps: 200, completed: 30, activation: 0.15, paid: 6 });
    expect(activationKpis([{ stage: 'signed_up', accounts: 0 }]).activation).toBeNull();
  });

  it('CSAT over workflows is weighted by surveys', () => {
    const c = overallCsat([
      { workflow: 'quick-brief', surveys: 3, average_csat: 5, csat_percent: 100 },
      { workflow: 'product-plan', surveys: 1, average_csat: 1, csat_percent: 0 },
    ])!;
    expect(c.surveys).toBe(4);
    expect(c.average).toBe(4);
    expect(c.percent).toBe(75);
    expect(overallCsat([])).toBeNull();
  });
});

describe('product usage', () => {
  it('active users: MAU, with the average DAU and the stickiness the server gives', () => {
    const report = { features: [], daily_active: [], average_dau: 3.45, mau: 30, stickiness: 0.115 };
    expect(activeUserKpis(report)).toEqual({ mau: 30, averageDau: 3.45, stickiness: 0.115 });
    // No active account: no stickiness (shown as "–"), never a division by zero.
    expect(activeUserKpis({ ...report, average_dau: 0, mau: 0, stickiness: null })).toEqual({ mau: 0, averageDau: 0, stickiness: null });
    expect(activeUserKpis({ features: [], daily_active: [], average_dau: 0, mau: 0 }).stickiness).toBeNull();
  });

  it('writes an average of accounts with one decimal below 100', () => {
    expect(averageAccounts(3.45)).toBe('3.5');
    expect(averageAccounts(0)).toBe('0');
    expect(averageAccounts(12)).toBe('12');
    expect(averageAccounts(0.04)).toBe('0');
    expect(averageAccounts(0.05)).toBe('0.1');
    expect(averageAccounts(1234.5)).toBe('1,235');
  });

  it('labels an event with what it was about, when known', () => {
    expect(featureLabel({ kind: 'feature_used', name: 'section_edit' })).toBe('feature_used: section_edit');
    expect(featureLabel({ kind: 'document_exported', name: 'docx' })).toBe('document_exported: docx');
    expect(featureLabel({ kind: 'message_sent', name: null })).toBe('message_sent');
    expect(featureLabel({ kind: 'message_sent' })).toBe('message_sent');
    expect(featureLabel({ kind: 'session_completed', name: ' ' })).toBe('session_completed');
  });

  it('ranks the events by distinct accounts, then events, then label; the top ones when asked', () => {
    const f = (kind: string, name: string | null, events: number, accounts: number): FeatureUsage => ({ kind, name, events, accounts });
    const features = [
      f('message_sent', null, 900, 40),
      f('feature_used', 'section_edit', 50, 12),
      f('document_exported', 'md', 20, 12),
      f('document_exported', 'docx', 30, 12),
      f('session_started', 'quick-brief', 70, 55),
      f('feature_used', 'reply_retry', 30, 12),
    ];
    const labels = (list: FeatureUsage[]) => list.map(featureLabel);
    expect(labels(rankFeatures(features))).toEqual([
      'session_started: quick-brief',
      'message_sent',
      'feature_used: section_edit',
      'document_exported: docx',
      'feature_used: reply_retry',
      'document_exported: md',
    ]);
    expect(labels(rankFeatures(features, 2))).toEqual(['session_started: quick-brief', 'message_sent']);
    // The report itself is left as it was.
    expect(features[0].kind).toBe('message_sent');
    const many = Array.from({ length: 20 }, (_, i) => f('feature_used', `f${i}`, i, i));
    const top = rankFeatures(many, 12);
    expect(top).toHaveLength(12);
    expect(top[0].name).toBe('f19');
    expect(top[11].name).toBe('f8');
  });

  it('counts every day of the range, days without any active account as 0', () => {
    const daily = [
      { day: '2026-02-27', accounts: 3 },
      { day: '2026-03-02', accounts: 5 },
    ];
    expect(dailyActiveDays(daily, '2026-02-26', '2026-03-02')).toEqual([
      { day: '2026-02-26', accounts: 0 },
      { day: '2026-02-27', accounts: 3 },
      { day: '2026-02-28', accounts: 0 },
      { day: '2026-03-01', accounts: 0 },
      { day: '2026-03-02', accounts: 5 },
    ]);
    expect(dailyActiveDays([], '2026-12-04', '2026-12-04')).toEqual([{ day: '2026-12-04', accounts: 0 }]);
    expect(dailyActiveDays([], '2026-09-06', '2026-12-04')).toHaveLength(90);
    // A range that cannot be counted: the report's days as they are.
    expect(dailyActiveDays(daily, '2026-03-02', '2026-02-26')).toEqual(daily);
    expect(dailyActiveDays(daily, 'soon', '2026-02-26')).toEqual(daily);
    // A day outside the range is kept, in order.
    expect(dailyActiveDays(daily, '2026-03-01', '2026-03-02')).toEqual([
      { day: '2026-02-27', accounts: 3 },
      { day: '2026-03-01', accounts: 0 },
      { day: '2026-03-02', accounts: 5 },
    ]);
  });
});

describe('charts and files', () => {
  it('stacks the movements new, expansion, reactivation, contraction, churn', () => {
    expect(movementValues([FEBRUARY, MARCH])).toEqual([
      [2000, 3000, 0, 0, 0],
      [0, 0, 0, 0, -8000],
    ]);
  });

  it('lays MRR cohorts out by months since their first', () => {
    expect(
      mrrCohortRows([
        {
          cohort: '2025-01',
          months: [
            { month: '2025-01', mrr: 7000, net_mrr_retention: 1 },
            { month: '2025-02', mrr: 10000, net_mrr_retention: 10 / 7 },
          ],
        },
        { cohort: '2025-02', months: [{ month: '2025-02', mrr: 0, net_mrr_retention: null }] },
      ]),
    ).toEqual([
      { label: '2025-01', values: [1, 10 / 7] },
      { label: '2025-02', values: [null] },
    ]);
  });

  it('writes money in the currency unit and shares as percentages', () => {
    expect(csvMoney(203200)).toBe(2032);
    expect(csvMoney(-8835)).toBe(-88.35);
    expect(csvMoney(null)).toBeNull();
    expect(csvPercent(0.083333)).toBe(8.33);
    expect(csvPercent(-0.6)).toBe(-60);
    expect(csvPercent(undefined)).toBeNull();
  });
});
