import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { paths } from '../../api/paths';
import type {
  CurrencyForecast,
  CurrencyMrr,
  DailyActive,
  FeatureUsage,
  ForecastReport,
  FunnelReport,
  FunnelStage,
  MrrCohort,
  MrrMonth,
  MrrReport,
  ProductUsageReport,
  QualityReport,
  RatingGroup,
  RetentionCohort,
  RetentionReport,
  TimeToPlanMeasure,
  WorkflowList,
} from '../../api/types';
import { describedBy, FieldNote } from '../../components/FieldHelp';
import {
  activationKpis,
  activeUserKpis,
  addMonths,
  averageAccounts,
  checkFilters,
  csvMoney,
  csvPercent,
  dailyActiveDays,
  defaultCurrency,
  defaultFilters,
  featureLabel,
  MEASURE_NAMES,
  monthName,
  monthOf,
  MOVEMENTS,
  movementValues,
  mrrCohortRows,
  orNone,
  overallCsat,
  rankFeatures,
  retentionRows,
  revenueKpis,
  STAGE_NAMES,
  TOP_FEATURES,
  type FilterProblems,
  type Filters,
} from '../business';
import { BarChart, ColumnChart, ForecastChart, FunnelChart, GroupedColumnChart, HeatMap, StackedColumnChart } from '../charts';
import { DataTable, type Column } from '../DataTable';
import { cents, centsShort, count, hours, percent, seconds, share, signedPercent } from '../format';
import { LoadState } from '../Loading';
import { useFetch, type Fetched } from '../useFetch';

const PLANS = ['free', 'pro', 'team'];
const HORIZONS = Array.from({ length: 12 }, (_, i) => i + 1);
/** The fields in the order they are on the page (the first refused one gets the focus). */
const FIELDS: { key: keyof Filters; label: string }[] = [
  { key: 'fromMonth', label: 'First month' },
  { key: 'toMonth', label: 'Last month' },
  { key: 'fromDay', label: 'First day' },
  { key: 'toDay', label: 'Last day' },
  { key: 'plan', label: 'Plan' },
  { key: 'channel', label: 'Sign-up channel' },
  { key: 'workflow', label: 'Workflow' },
];
const inputId = (key: keyof Filters) => `business-${key}`;
const roundPercent = (v: number) => `${Math.round(v * 100)}%`;

/** The executive dashboard: revenue (MRR and its movements, the forecast with its measured
 * error, cohorts), activation and retention, product usage (active accounts, feature usage),
 * and session quality. Definitions: docs/analytics.md. */
export function BusinessPage() {
  const [initial] = useState(() => defaultFilters());
  const [draft, setDraft] = useState<Filters>(initial);
  const [applied, setApplied] = useState<Filters>(initial);
  const [problems, setProblems] = useState<FilterProblems>({});
  const [chosen, setChosen] = useState<string | null>(null);
  const [horizon, setHorizon] = useState(6);
  const [known, setKnown] = useState<readonly CurrencyMrr[]>([]);

  const mrr = useFetch<MrrReport>(paths.adminMrr({ from: applied.fromMonth, to: applied.toMonth }));
  // The currencies of the latest report, kept while another range loads (the forecast of the
  // chosen currency need not be asked again for that).
  useEffect(() => {
    if (mrr.data) setKnown(mrr.data.currencies);
  }, [mrr.data]);
  const currencies = mrr.data?.currencies ?? known;
  const currency = chosen ?? defaultCurrency(currencies);
  // Asked once the currencies are known (or the report failed: then for every currency).
  const forecast = useFetch<ForecastReport>(
    mrr.loading && !known.length ? null : paths.adminForecast({ months: horizon, currency: currency ?? undefined }),
  );
  const segment = { from: applied.fromDay, to: applied.toDay, plan: orNone(applied.plan), channel: orNone(applied.channel) };
  const funnel = useFetch<FunnelReport>(paths.adminFunnel({ ...segment, workflow: orNone(applied.workflow) }));
  const retention = useFetch<RetentionReport>(paths.adminRetention(segment));
  // Here the days select events, not sign-ups; the plan and channel select accounts the same way.
  const usage = useFetch<ProductUsageReport>(paths.adminProductUsage(segment));
  const quality = useFetch<QualityReport>(paths.adminQuality({ from: applied.fromDay, to: applied.toDay }));
  const workflows = useFetch<WorkflowList>(paths.workflows());

  function submit(e: FormEvent) {
    e.preventDefault();
    const found = checkFilters(draft);
    setProblems(found);
    const wrong = FIELDS.find((f) => found[f.key]);
    if (wrong) {
      document.getElementById(inputId(wrong.key))?.focus();
      return;
    }
    if (JSON.stringify(draft) === JSON.stringify(applied)) {
      for (const r of [mrr, forecast, funnel, retention, usage, quality]) r.reload();
    } else setApplied(draft);
  }

  const field = (key: keyof Filters, input: (props: { id: string; 'aria-invalid'?: true; 'aria-describedby'?: string }) => ReactNode) => {
    const id = inputId(key);
    const message = problems[key] ?? null;
    return (
      <div className="field">
        <label htmlFor={id}>{FIELDS.find((f) => f.key === key)?.label}</label>
        {input({ id, 'aria-invalid': message ? true : undefined, 'aria-describedby': describedBy(message && `${id}-error`) })}
        <FieldNote id={`${id}-error`} message={message} />
      </div>
    );
  };
  const set = (key: keyof Filters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [key]: e.target.value }));

  const series = currency ? currencies.find((c) => c.currency === currency) : undefined;
  const segmentText = [
    `signed up ${applied.fromDay} to ${applied.toDay}`,
    applied.plan && `on ${applied.plan} now`,
    applied.channel && `from ${applied.channel}`,
  ]
    .filter(Boolean)
    .join(', ');
  const usageText = [
    `events ${applied.fromDay} to ${applied.toDay}`,
    applied.plan && `of accounts on ${applied.plan} now`,
    applied.channel && `from ${applied.channel}`,
  ]
    .filter(Boolean)
    .join(', ');

  return (
    <>
      <form className="admin-toolbar business-filters" onSubmit={submit} aria-label="Filter the business figures" noValidate>
        <fieldset>
          <legend>Revenue</legend>
          {field('fromMonth', (p) => <input {...p} type="month" value={draft.fromMonth} onChange={set('fromMonth')} placeholder="YYYY-MM" />)}
          {field('toMonth', (p) => <input {...p} type="month" value={draft.toMonth} onChange={set('toMonth')} placeholder="YYYY-MM" />)}
        </fieldset>
        <fieldset>
          <legend>Accounts and sessions</legend>
          {field('fromDay', (p) => <input {...p} type="date" value={draft.fromDay} onChange={set('fromDay')} />)}
          {field('toDay', (p) => <input {...p} type="date" value={draft.toDay} onChange={set('toDay')} />)}
          {field('plan', (p) => (
            <select {...p} value={draft.plan} onChange={set('plan')}>
              <option value="">Every plan</option>
              {PLANS.map((plan) => (
                <option key={plan} value={plan}>
                  {plan}
                </option>
              ))}
            </select>
          ))}
          {field('channel', (p) => (
            <input {...p} type="text" value={draft.channel} onChange={set('channel')} list="business-channels" placeholder="e.g. direct" autoComplete="off" spellCheck={false} />
          ))}
          <datalist id="business-channels">
            <option value="direct" />
          </datalist>
          {field('workflow', (p) => (
            <select {...p} value={draft.workflow} onChange={set('workflow')}>
              <option value="">Every workflow</option>
              {(workflows.data?.items ?? []).map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name}
                </option>
              ))}
              {draft.workflow && !workflows.data?.items.some((w) => w.id === draft.workflow) && <option value={draft.workflow}>{draft.workflow}</option>}
            </select>
          ))}
        </fieldset>
        <div className="row">
          <button type="submit" className="button primary">
            Show figures
          </button>
          <button
            type="button"
            className="button"
            onClick={() => {
              setDraft(initial);
              setProblems({});
              setApplied(initial);
            }}
          >
            Reset
          </button>
        </div>
      </form>
      <p className="muted small">
        Revenue: {monthName(applied.fromMonth)} to {monthName(applied.toMonth)}. Funnel and retention: accounts {segmentText}
        {applied.workflow && ` (funnel: ${applied.workflow} sessions only)`}. Product usage: {usageText}. Quality: {applied.fromDay} to {applied.toDay}. Dates
        in UTC.
      </p>

      {currencies.length > 1 && (
        <div className="section-tools">
          <div className="field">
            <label htmlFor="business-currency">Currency</label>
            <select id="business-currency" value={currency ?? ''} onChange={(e) => setChosen(e.target.value)}>
              {currencies.map((c) => (
                <option key={c.currency} value={c.currency}>
                  {c.currency.toUpperCase()}
                </option>
              ))}
            </select>
          </div>
          <p className="muted small">Each currency on its own: amounts are never converted.</p>
        </div>
      )}

      <section aria-labelledby="business-kpis">
        <h2 id="business-kpis" className="visually-hidden">
          Key figures
        </h2>
        <Kpis mrr={mrr} series={series} currency={currency} funnel={funnel} usage={usage} quality={quality} />
      </section>

      <section className="business-section" aria-labelledby="business-revenue">
        <h2 id="business-revenue">Revenue{currency && ` (${currency.toUpperCase()})`}</h2>
        {!mrr.data ? (
          <LoadState res={mrr} what="revenue" />
        ) : !series || !currency ? (
          <p>No paying customers in these months.</p>
        ) : (
          <Revenue series={series} currency={currency} />
        )}
        <h3>MRR forecast</h3>
        <div className="section-tools">
          <div className="field">
            <label htmlFor="business-horizon">Months ahead</label>
            <select id="business-horizon" value={horizon} onChange={(e) => setHorizon(Number(e.target.value))}>
              {HORIZONS.map((h) => (
                <option key={h} value={h}>
                  {h}
                </option>
              ))}
            </select>
          </div>
        </div>
        {forecast.data ? (
          <Forecast fc={forecast.data.currencies.find((c) => c.currency === currency) ?? forecast.data.currencies[0]} />
        ) : (
          <LoadState res={forecast} what="the forecast" />
        )}
      </section>

      <section className="business-section" aria-labelledby="business-activation">
        <h2 id="business-activation">Activation and retention</h2>
        <h3>Activation funnel</h3>
        {funnel.data ? <Funnel stages={funnel.data.stages} /> : <LoadState res={funnel} what="the funnel" />}
        <h3>Weekly retention by sign-up week</h3>
        {retention.data ? <Retention cohorts={retention.data.cohorts} /> : <LoadState res={retention} what="retention" />}
      </section>

      <section className="business-section" aria-labelledby="business-usage">
        <h2 id="business-usage">Product usage</h2>
        {usage.data ? <ProductUsage report={usage.data} from={applied.fromDay} to={applied.toDay} /> : <LoadState res={usage} what="product usage" />}
      </section>

      <section className="business-section" aria-labelledby="business-quality">
        <h2 id="business-quality">Session quality</h2>
        {quality.data ? <Quality report={quality.data} /> : <LoadState res={quality} what="session quality" />}
      </section>
    </>
  );
}

// ——— Key figures ———

function Tile({ id, label, value, note, title }: { id: string; label: string; value: ReactNode; note?: ReactNode; title?: string }) {
  return (
    <div className="kpi" data-testid="kpi" data-kpi={id} title={title}>
      <dt>{label}</dt>
      <dd className="kpi-value">{value}</dd>
      {note && <dd className="kpi-note">{note}</dd>}
    </div>
  );
}

function Change({ share: value }: { share: number | null }) {
  if (value === null) return <>–</>;
  return <span className={value > 0 ? 'up' : value < 0 ? 'down' : undefined}>{signedPercent(value)}</span>;
}

function Kpis({
  mrr,
  series,
  currency,
  funnel,
  usage,
  quality,
}: {
  mrr: Fetched<MrrReport>;
  series: CurrencyMrr | undefined;
  currency: string | null;
  funnel: Fetched<FunnelReport>;
  usage: Fetched<ProductUsageReport>;
  quality: Fetched<QualityReport>;
}) {
  const k = series ? revenueKpis(series.months, monthOf(new Date())) : null;
  const pending = (res: { error: unknown; data?: unknown }) => (res.error !== null && res.data === undefined ? 'unavailable' : '…');
  const none = mrr.data ? '–' : pending(mrr);
  const cur = currency ?? 'usd';
  const when = k ? `${monthName(k.month)}${k.monthToDate ? ' so far' : ''}` : '';
  const a = funnel.data ? activationKpis(funnel.data.stages) : null;
  const active = usage.data ? activeUserKpis(usage.data) : null;
  const csat = quality.data ? overallCsat(quality.data.csat) : null;
  return (
    <dl className="kpis" aria-busy={mrr.loading || funnel.loading || usage.loading || quality.loading}>
      <Tile
        id="mrr"
        label="MRR"
        value={k ? cents(k.mrr, cur) : none}
        note={k ? <><Change share={k.mrrGrowth} /> vs the end of {monthName(addMonths(k.month, -1))}{k.monthToDate ? ' (so far)' : ''}</> : mrr.data && 'No paying customers'}
      />
      <Tile id="arr" label="ARR" value={k ? cents(k.arr, cur) : none} note={k && `12 × MRR, ${when}`} />
      <Tile
        id="customers"
        label="Paying customers"
        value={k ? count(k.customers) : none}
        note={k && `+${k.newCustomers} new, +${k.reactivatedCustomers} back, −${k.churnedCustomers} churned in ${when}`}
      />
      <Tile id="churn" label="Customer churn rate" value={k ? share(k.customerChurnRate) : none} note={k && `Churned ÷ customers at the start, ${when}`} />
      <Tile
        id="nrr"
        label="Net MRR retention"
        value={k ? share(k.nrr) : none}
        note={k && `1 − net MRR churn rate of ${when} (monthly, all customers; cohorts below)`}
        title="Net MRR retention of the month: 1 − net MRR churn rate, where net MRR churn = (churn + contraction − expansion − reactivation) ÷ MRR at the start of the month."
      />
      <Tile id="arpa" label="ARPA" value={k ? cents(k.arpa, cur) : none} note={k && `MRR ÷ paying customers, ${when}`} />
      <Tile
        id="ltv"
        label="LTV"
        value={k ? cents(k.ltv, cur) : none}
        note={k && (k.ltv === null ? 'None while no customer churned in six months' : 'ARPA ÷ the average monthly churn rate of six months')}
      />
      <Tile
        id="activation"
        label="Completed plans"
        value={a ? count(a.completed) : pending(funnel)}
        note={a && (a.activation === null ? 'No sign-ups in these days' : `Activation: ${share(a.activation)} of ${count(a.signUps)} sign-ups completed a plan`)}
      />
      <Tile
        id="active-users"
        label="Active users"
        value={active ? count(active.mau) : pending(usage)}
        note={active && `Average DAU ${averageAccounts(active.averageDau)} · stickiness ${share(active.stickiness)}`}
        title="Accounts with any product event in the 30 days up to the last day (MAU). Average DAU: the mean of the accounts active each day of the range, days without any counted as 0. Stickiness: average DAU ÷ MAU."
      />
      <Tile
        id="csat"
        label="CSAT"
        value={csat ? `${Math.round(csat.percent)} / 100` : quality.data ? '–' : pending(quality)}
        note={quality.data && (csat ? `Mean ${csat.average.toFixed(1)} of 5 from ${count(csat.surveys)} surveys` : 'No surveys answered in these days')}
      />
    </dl>
  );
}

// ——— Revenue ———

function Revenue({ series, currency }: { series: CurrencyMrr; currency: string }) {
  const CUR = currency.toUpperCase();
  const months = series.months;
  const money = (n: number | null | undefined) => cents(n, currency);
  const short = (n: number) => centsShort(n, currency);
  const sum = (key: (typeof MOVEMENTS)[number]['key']) => months.reduce((t, m) => t + m[key], 0);
  const first = months[0];
  const last = months.at(-1);
  const summary =
    first && last
      ? `MRR movements in ${CUR}, ${monthName(first.month)} to ${monthName(last.month)}: new ${short(sum('new'))}, expansion ${short(sum('expansion'))}, reactivation ${short(sum('reactivation'))}, contraction ${short(sum('contraction'))}, churn ${short(sum('churn'))}; MRR from ${short(first.mrr_start)} to ${short(last.mrr)}.`
      : `MRR movements in ${CUR}: no months.`;
  const columns: Column<MrrMonth>[] = [
    { label: 'Month', csv: (m) => m.month, show: (m) => monthName(m.month) },
    ...MOVEMENTS.map((s) => ({ label: `${s.name} (${CUR})`, csv: (m: MrrMonth) => csvMoney(m[s.key]), show: (m: MrrMonth) => money(m[s.key]), num: true })),
    { label: `Net (${CUR})`, csv: (m) => csvMoney(m.net), show: (m) => money(m.net), num: true },
    { label: `MRR (${CUR})`, csv: (m) => csvMoney(m.mrr), show: (m) => money(m.mrr), num: true },
    { label: `ARR (${CUR})`, csv: (m) => csvMoney(m.arr), show: (m) => money(m.arr), num: true },
    { label: 'Customers', csv: (m) => m.customers, show: (m) => count(m.customers), num: true },
    { label: 'New customers', csv: (m) => m.new_customers, num: true },
    { label: 'Reactivated customers', csv: (m) => m.reactivated_customers, num: true },
    { label: 'Churned customers', csv: (m) => m.churned_customers, num: true },
    { label: `ARPA (${CUR})`, csv: (m) => csvMoney(m.arpa), show: (m) => money(m.arpa), num: true },
    { label: 'Customer churn rate (%)', csv: (m) => csvPercent(m.customer_churn_rate), show: (m) => share(m.customer_churn_rate), num: true },
    { label: 'Net MRR churn rate (%)', csv: (m) => csvPercent(m.net_mrr_churn_rate), show: (m) => share(m.net_mrr_churn_rate), num: true },
    { label: `LTV (${CUR})`, csv: (m) => csvMoney(m.ltv), show: (m) => money(m.ltv), num: true },
  ];
  return (
    <>
      <h3>MRR movements</h3>
      <StackedColumnChart
        title={`MRR movements by month (${CUR}): gains above zero, losses below, the net marked`}
        summary={summary}
        labels={months.map((m) => m.month)}
        series={MOVEMENTS}
        values={movementValues(months)}
        net={months.map((m) => m.net)}
        format={short}
      />
      <DataTable title={`Monthly subscription metrics (${CUR})`} columns={columns} rows={months} rowKey={(m) => m.month} testId="mrr-table" />
      <h3>Net MRR retention by cohort</h3>
      <MrrCohorts cohorts={series.cohorts} currency={currency} />
    </>
  );
}

function MrrCohorts({ cohorts, currency }: { cohorts: MrrCohort[]; currency: string }) {
  const CUR = currency.toUpperCase();
  if (cohorts.length === 0) return <p>No customer started paying in these months.</p>;
  const width = Math.max(...cohorts.map((c) => c.months.length));
  const latest = cohorts.find((c) => c.months.length === width);
  const summary = `Net MRR retention of ${cohorts.length} monthly cohorts in ${CUR}${latest ? `; the oldest, ${latest.cohort}, is at ${roundPercent(latest.months.at(-1)?.net_mrr_retention ?? 0)} after ${width - 1} months` : ''}.`;
  const columns: Column<MrrCohort>[] = [
    { label: 'Cohort', csv: (c) => c.cohort, show: (c) => monthName(c.cohort) },
    { label: `First month MRR (${CUR})`, csv: (c) => csvMoney(c.months[0]?.mrr), show: (c) => cents(c.months[0]?.mrr, currency), num: true },
    ...Array.from({ length: width }, (_, j) => ({
      label: `Month ${j} (%)`,
      csv: (c: MrrCohort) => csvPercent(c.months[j]?.net_mrr_retention),
      show: (c: MrrCohort) => (c.months[j] ? share(c.months[j].net_mrr_retention) : ''),
      num: true,
    })),
  ];
  return (
    <>
      <HeatMap
        title={`Net MRR retention by the month customers first paid (${CUR}): their MRR each month since, against their first month's`}
        summary={summary}
        rows={mrrCohortRows(cohorts)}
        columnLabel={(j) => `M${j}`}
        format={roundPercent}
      />
      <DataTable title={`Net MRR retention by cohort (${CUR})`} columns={columns} rows={cohorts} rowKey={(c) => c.cohort} testId="mrr-cohorts-table" />
    </>
  );
}

// ——— The forecast, never without its measured error ———

/** The forecast of one currency, only ever with its measured error beside it. */
export function Forecast({ fc }: { fc: CurrencyForecast | undefined }) {
  if (!fc) return <p>No revenue yet: nothing to forecast.</p>;
  const CUR = fc.currency.toUpperCase();
  const b = fc.backtest;
  if (fc.note) {
    return (
      <p className="notice notice-info" data-testid="forecast-note">
        No forecast for {CUR}: {fc.note}
      </p>
    );
  }
  const measured = b.forecasts > 0 && (b.mape != null || b.mase != null || b.coverage80 != null);
  if (!measured || fc.forecast.length === 0) {
    return (
      <p className="notice notice-info" data-testid="forecast-note">
        No forecast for {CUR}: its error cannot be measured yet (the backtest has no past forecast to compare with what happened), and a
        forecast is not shown without it.
      </p>
    );
  }
  const money = (n: number | null | undefined) => cents(n, fc.currency);
  const short = (n: number) => centsShort(n, fc.currency);
  const end = fc.forecast.at(-1)!;
  const summary = `MRR in ${CUR} over ${fc.history.length} months, now ${short(fc.history.at(-1)?.mrr ?? 0)}, and its forecast for ${monthName(end.month)}: ${short(end.mrr)} (80%: ${short(end.low80)} to ${short(end.high80)}; 95%: ${short(end.low95)} to ${short(end.high95)}). Backtest error: MAPE ${share(b.mape)}, MASE ${b.mase?.toFixed(2) ?? '–'}.`;
  type Row = { month: string; actual?: number; f?: (typeof fc.forecast)[number]; cohort?: number };
  const byCohorts = new Map(fc.cohort_view.map((c) => [c.month, c.mrr]));
  const rows: Row[] = [
    ...fc.history.map((h) => ({ month: h.month, actual: h.mrr })),
    ...fc.forecast.map((f) => ({ month: f.month, f, cohort: byCohorts.get(f.month) })),
  ];
  const columns: Column<Row>[] = [
    { label: 'Month', csv: (r) => r.month, show: (r) => monthName(r.month) },
    { label: `MRR (${CUR})`, csv: (r) => csvMoney(r.actual), show: (r) => (r.actual === undefined ? '' : money(r.actual)), num: true },
    { label: `Forecast (${CUR})`, csv: (r) => csvMoney(r.f?.mrr), show: (r) => (r.f ? money(r.f.mrr) : ''), num: true },
    { label: `80% low (${CUR})`, csv: (r) => csvMoney(r.f?.low80), show: (r) => (r.f ? money(r.f.low80) : ''), num: true },
    { label: `80% high (${CUR})`, csv: (r) => csvMoney(r.f?.high80), show: (r) => (r.f ? money(r.f.high80) : ''), num: true },
    { label: `95% low (${CUR})`, csv: (r) => csvMoney(r.f?.low95), show: (r) => (r.f ? money(r.f.low95) : ''), num: true },
    { label: `95% high (${CUR})`, csv: (r) => csvMoney(r.f?.high95), show: (r) => (r.f ? money(r.f.high95) : ''), num: true },
    {
      label: `Cohort view (${CUR})`,
      csv: (r) => csvMoney(r.cohort),
      show: (r) => (r.cohort === undefined ? '' : money(r.cohort)),
      num: true,
    },
  ];
  return (
    <>
      <div className="chart-pair" data-testid="forecast">
        <ForecastChart
          title={`MRR (${CUR}) and its forecast, ${fc.forecast.length} ${fc.forecast.length === 1 ? 'month' : 'months'} ahead, with 80% and 95% intervals`}
          summary={summary}
          history={fc.history}
          forecast={fc.forecast}
          format={short}
        />
        <Backtest fc={fc} />
      </div>
      <DataTable title={`MRR and forecast (${CUR})`} columns={columns} rows={rows} rowKey={(r) => r.month} testId="forecast-table" />
    </>
  );
}

function Backtest({ fc }: { fc: CurrencyForecast }) {
  const b = fc.backtest;
  const narrow = (coverage: number | null | undefined, target: number) =>
    coverage != null && coverage < target - 0.1 ? ' — the intervals are too narrow for this history' : '';
  return (
    <aside className="backtest" aria-labelledby="backtest-heading" data-testid="backtest">
      <h4 id="backtest-heading">Measured error of this forecast</h4>
      <dl>
        <dt>MAPE</dt>
        <dd>{share(b.mape)}</dd>
        <dt>MASE</dt>
        <dd>
          {b.mase == null ? '–' : b.mase.toFixed(2)}
          {b.mase != null && (b.mase < 1 ? ' (beats the naive forecast)' : ' (no better than the naive forecast)')}
        </dd>
        <dt>80% coverage</dt>
        <dd>
          {share(b.coverage80)}
          {narrow(b.coverage80, 0.8)}
        </dd>
        <dt>95% coverage</dt>
        <dd>
          {share(b.coverage95)}
          {narrow(b.coverage95, 0.95)}
        </dd>
        <dt>Compared</dt>
        <dd>{count(b.forecasts)} past forecasts</dd>
      </dl>
      <p className="muted small">
        The same model ({fc.model === 'holt_linear' ? "Holt's linear trend" : fc.model}
        {fc.alpha != null && `, α ${fc.alpha}`}
        {fc.beta != null && `, β ${fc.beta}`}) refitted on every earlier stretch of the history, its forecasts against what happened. MAPE: mean
        absolute percentage error. MASE below 1 beats “next month as this month”. Coverage: the share of actual values inside the interval (80% and
        95% expected).
      </p>
    </aside>
  );
}

// ——— Activation and retention ———

function Funnel({ stages }: { stages: FunnelStage[] }) {
  const name = (s: FunnelStage) => STAGE_NAMES[s.stage] ?? s.stage;
  const first = stages[0];
  const last = stages.at(-1);
  const summary =
    first && last
      ? `Activation funnel: ${count(first.accounts)} sign-ups; ${stages
          .slice(1)
          .map((s) => `${name(s).toLowerCase()} ${count(s.accounts)} (${share(s.conversion)} of the stage before)`)
          .join(', ')}.`
      : 'Activation funnel: no stages.';
  const columns: Column<FunnelStage>[] = [
    { label: 'Stage', csv: name },
    { label: 'Accounts', csv: (s) => s.accounts, show: (s) => count(s.accounts), num: true },
    { label: 'Of the stage before (%)', csv: (s) => csvPercent(s.conversion), show: (s) => share(s.conversion), num: true },
    { label: 'Of sign-ups (%)', csv: (s) => csvPercent(s.overall), show: (s) => share(s.overall), num: true },
    {
      label: 'Median time from the stage before (seconds)',
      csv: (s) => (s.median_seconds_from_previous == null ? null : Math.round(s.median_seconds_from_previous)),
      show: (s) => seconds(s.median_seconds_from_previous),
      num: true,
    },
  ];
  return (
    <>
      <FunnelChart
        title="Accounts at each stage, with the share of the stage before"
        summary={summary}
        stages={stages.map((s, i) => ({ label: name(s), value: s.accounts, note: i === 0 ? 'sign-ups' : `${share(s.conversion)} of previous` }))}
        format={count}
      />
      <DataTable title="Activation funnel" columns={columns} rows={stages} rowKey={(s) => s.stage} testId="funnel-table" />
    </>
  );
}

function Retention({ cohorts }: { cohorts: RetentionCohort[] }) {
  if (cohorts.length === 0) return <p>No sign-ups in these days.</p>;
  const width = Math.max(...cohorts.map((c) => c.active.length));
  const accounts = cohorts.reduce((n, c) => n + c.accounts, 0);
  const summary = `Weekly retention of ${cohorts.length} sign-up weeks (${count(accounts)} accounts): the share of each week's sign-ups active in each week since.`;
  const columns: Column<RetentionCohort>[] = [
    { label: 'Sign-up week (Monday)', csv: (c) => c.week },
    { label: 'Accounts', csv: (c) => c.accounts, show: (c) => count(c.accounts), num: true },
    ...Array.from({ length: width }, (_, j) => ({
      label: `Week ${j} (%)`,
      csv: (c: RetentionCohort) => csvPercent(c.active[j]),
      show: (c: RetentionCohort) => (j < c.active.length ? percent(c.active[j]) : ''),
      num: true,
    })),
  ];
  return (
    <>
      <HeatMap
        title="Share of each sign-up week's accounts active in week 0 (the sign-up week), 1, 2, …"
        summary={summary}
        rows={retentionRows(cohorts)}
        columnLabel={(j) => `W${j}`}
        format={roundPercent}
      />
      <DataTable title="Weekly retention" columns={columns} rows={cohorts} rowKey={(c) => c.week} testId="retention-table" />
    </>
  );
}

// ——— Product usage ———

/** Feature usage (distinct accounts and events per event kind and what it was about) and the
 * accounts active each day of the range. */
export function ProductUsage({ report, from, to }: { report: ProductUsageReport; from: string; to: string }) {
  const features = rankFeatures(report.features);
  const top = features.slice(0, TOP_FEATURES);
  const days = dailyActiveDays(report.daily_active, from, to);
  const featureColumns: Column<FeatureUsage>[] = [
    { label: 'Event', csv: (f) => f.kind },
    { label: 'Name', csv: (f) => f.name ?? null },
    { label: 'Events', csv: (f) => f.events, show: (f) => count(f.events), num: true },
    { label: 'Accounts', csv: (f) => f.accounts, show: (f) => count(f.accounts), num: true },
  ];
  const dayColumns: Column<DailyActive>[] = [
    { label: 'Day', csv: (d) => d.day },
    { label: 'Active accounts', csv: (d) => d.accounts, show: (d) => count(d.accounts), num: true },
  ];
  return (
    <>
      <h3>Feature usage</h3>
      {features.length === 0 ? (
        <p>No product events in these days.</p>
      ) : (
        <>
          <BarChart
            title={`Feature usage: distinct accounts per event${features.length > TOP_FEATURES ? ` (top ${TOP_FEATURES})` : ''}`}
            data={top.map((f) => ({ label: featureLabel(f), value: f.accounts }))}
            format={count}
            labelChars={32}
          />
          <DataTable title="Feature usage" columns={featureColumns} rows={features} rowKey={(f) => JSON.stringify([f.kind, f.name ?? null])} testId="features-table" />
        </>
      )}
      <h3>Daily active accounts</h3>
      {report.daily_active.length === 0 ? (
        <p>No account was active in these days.</p>
      ) : (
        <>
          <ColumnChart title="Daily active accounts (UTC days)" data={days.map((d) => ({ label: d.day, value: d.accounts }))} format={count} />
          <DataTable title="Daily active accounts" columns={dayColumns} rows={days} rowKey={(d) => d.day} testId="daily-active-table" />
        </>
      )}
    </>
  );
}

// ——— Session quality ———

function ratingColumns(groupLabels: string[]): Column<RatingGroup>[] {
  return [
    ...groupLabels.map((label, i) => ({ label, csv: (g: RatingGroup) => g.group[i] ?? '' })),
    { label: 'Ratings', csv: (g) => g.ratings, show: (g) => count(g.ratings), num: true },
    { label: 'Average rating (1–5)', csv: (g) => Math.round(g.average_rating * 100) / 100, show: (g) => g.average_rating.toFixed(2), num: true },
    { label: 'Rated useful (%)', csv: (g) => csvPercent(g.useful_share), show: (g) => percent(g.useful_share), num: true },
  ];
}

function Quality({ report }: { report: QualityReport }) {
  const byWorkflow = report.by_workflow;
  const ttp = report.time_to_plan;
  const cohorts = [...new Set(ttp.map((m) => m.cohort))].sort();
  const median = (cohort: string, measure: string) => ttp.find((m) => m.cohort === cohort && m.measure === measure);
  const active = cohorts.map((c) => median(c, 'active'));
  const estimate = cohorts.map((c) => median(c, 'estimate'));
  const ttpColumns: Column<TimeToPlanMeasure>[] = [
    { label: 'Sign-up month', csv: (m) => m.cohort, show: (m) => monthName(m.cohort) },
    { label: 'Measure', csv: (m) => m.measure, show: (m) => MEASURE_NAMES[m.measure] ?? m.measure },
    { label: 'Sessions', csv: (m) => m.sessions, show: (m) => count(m.sessions), num: true },
    { label: 'First quartile (hours)', csv: (m) => round3(m.p25_hours), show: (m) => hours(m.p25_hours), num: true },
    { label: 'Median (hours)', csv: (m) => round3(m.median_hours), show: (m) => hours(m.median_hours), num: true },
    { label: 'Third quartile (hours)', csv: (m) => round3(m.p75_hours), show: (m) => hours(m.p75_hours), num: true },
  ];
  return (
    <>
      <h3>Ratings by workflow</h3>
      {byWorkflow.length === 0 ? (
        <p>No documents rated in these days.</p>
      ) : (
        <>
          <BarChart
            title="Average rating by workflow (1–5)"
            data={byWorkflow.map((g) => ({ label: g.group.join(' · '), value: g.average_rating }))}
            format={(v) => v.toFixed(1)}
            max={5}
          />
          <BarChart
            title="Share of documents rated useful, by workflow"
            data={byWorkflow.map((g) => ({ label: g.group.join(' · '), value: g.useful_share }))}
            format={percent}
            max={1}
          />
          <DataTable title="Ratings by workflow" columns={ratingColumns(['Workflow'])} rows={byWorkflow} rowKey={(g) => g.group.join('/')} testId="quality-table" />
          <DataTable title="Ratings by step" columns={ratingColumns(['Workflow', 'Step'])} rows={report.by_step} rowKey={(g) => g.group.join('/')} />
          <DataTable title="Ratings by model" columns={ratingColumns(['Provider', 'Model'])} rows={report.by_model} rowKey={(g) => g.group.join('/')} />
        </>
      )}
      <h3>Satisfaction (CSAT)</h3>
      {report.csat.length === 0 ? (
        <p>No end-of-session surveys answered in these days.</p>
      ) : (
        <>
          <BarChart
            title="CSAT by workflow (0–100: mean answer 1 is 0, 5 is 100)"
            data={report.csat.map((g) => ({ label: g.workflow, value: g.csat_percent }))}
            format={(v) => v.toFixed(0)}
            max={100}
          />
          <DataTable
            title="CSAT by workflow"
            columns={[
              { label: 'Workflow', csv: (g) => g.workflow },
              { label: 'Surveys', csv: (g) => g.surveys, show: (g) => count(g.surveys), num: true },
              { label: 'Mean CSAT (1–5)', csv: (g) => Math.round(g.average_csat * 100) / 100, show: (g) => g.average_csat.toFixed(2), num: true },
              { label: 'CSAT (0–100)', csv: (g) => Math.round(g.csat_percent * 10) / 10, show: (g) => g.csat_percent.toFixed(0), num: true },
            ]}
            rows={report.csat}
            rowKey={(g) => g.workflow}
            testId="csat-table"
          />
        </>
      )}
      <h3>Time to plan</h3>
      {ttp.length === 0 ? (
        <p>No sessions completed in these days.</p>
      ) : (
        <>
          <GroupedColumnChart
            title="Median hours to a completed plan: active time in Plansmith against the people's own estimate without it, by sign-up month (whiskers: quartiles)"
            summary={`Time to plan by sign-up month: ${cohorts
              .map((c, i) => `${c}: active ${hours(active[i]?.median_hours)}, their estimate without Plansmith ${hours(estimate[i]?.median_hours)}`)
              .join('; ')}.`}
            categories={cohorts}
            series={[
              {
                name: 'Active time (median)',
                className: 'series-active',
                values: active.map((m) => m?.median_hours ?? null),
                low: active.map((m) => m?.p25_hours ?? null),
                high: active.map((m) => m?.p75_hours ?? null),
              },
              {
                name: 'Estimate without Plansmith (median)',
                className: 'series-estimate',
                values: estimate.map((m) => m?.median_hours ?? null),
                low: estimate.map((m) => m?.p25_hours ?? null),
                high: estimate.map((m) => m?.p75_hours ?? null),
              },
            ]}
            format={hours}
          />
          <DataTable title="Time to plan" columns={ttpColumns} rows={ttp} rowKey={(m) => `${m.cohort}/${m.measure}`} testId="time-to-plan-table" />
        </>
      )}
    </>
  );
}

const round3 = (h: number) => Math.round(h * 1000) / 1000;
