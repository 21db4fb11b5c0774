// The console's charts, drawn as SVG by hand (a chart library would weigh more than the
// console). Each is an image with a text summary; the numbers are in the table next to it.
// The geometry is in plain functions, tested on their own (charts.test.ts).

export interface Datum {
  label: string;
  value: number;
}

/** A rounded upper end for an axis: 0.87 → 1, 3.2 → 4, 430 → 500, 0 → 1. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 2.5, 4, 5, 10].find((m) => m * magnitude >= max) ?? 10;
  return step * magnitude;
}

/** Bar lengths in pixels for `width`, proportional to the values on a 0–niceMax scale (or
 * 0–`max` when the scale is known, as 5 for a rating). */
export function barLengths(values: number[], width: number, max?: number): number[] {
  const top = max ?? niceMax(Math.max(0, ...values));
  return values.map((v) => Math.max(0, (v / top) * width));
}

function summary(title: string, data: Datum[], format: (n: number) => string): string {
  if (data.length === 0) return `${title}: no data`;
  const top = [...data].sort((a, b) => b.value - a.value)[0];
  return `${title}: ${data.length} ${data.length === 1 ? 'entry' : 'entries'}; highest ${top.label} at ${format(top.value)}.`;
}

/** A label cut to `chars` characters, an ellipsis as the last one when cut. */
export function clipLabel(label: string, chars: number): string {
  return label.length > chars ? `${label.slice(0, Math.max(0, chars - 1))}…` : label;
}

/** Horizontal bars, one per label (providers, models, users), largest first as given. Labels
 * are cut to `labelChars` characters (24 unless told; the label column widens for more). */
export function BarChart({
  title,
  data,
  format,
  max,
  labelChars = 24,
}: {
  title: string;
  data: Datum[];
  format: (n: number) => string;
  max?: number;
  labelChars?: number;
}) {
  const rowH = 26;
  const labelW = Math.max(170, labelChars * 7 + 2);
  const valueW = 80;
  const barW = 360;
  const width = labelW + barW + valueW;
  const height = Math.max(1, data.length) * rowH + 8;
  const lengths = barLengths(
    data.map((d) => d.value),
    barW,
    max,
  );
  const text = summary(title, data, format);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label={text} preserveAspectRatio="xMinYMin meet">
        <title>{text}</title>
        {data.map((d, i) => (
          <g key={d.label} transform={`translate(0 ${i * rowH + 4})`}>
            <text x={labelW - 8} y={rowH / 2 + 4} textAnchor="end" className="chart-label">
              {clipLabel(d.label, labelChars)}
            </text>
            <rect x={labelW} y={4} width={lengths[i]} height={rowH - 8} rx={3} className="chart-bar" />
            <text x={labelW + lengths[i] + 6} y={rowH / 2 + 4} className="chart-value">
              {format(d.value)}
            </text>
          </g>
        ))}
      </svg>
      <figcaption className="muted small">{title}</figcaption>
    </figure>
  );
}

/** Columns over time (one per day), with the first, middle and last dates under them. */
export function ColumnChart({ title, data, format }: { title: string; data: Datum[]; format: (n: number) => string }) {
  const width = 640;
  const plotH = 160;
  const top = niceMax(Math.max(0, ...data.map((d) => d.value)));
  const left = 56;
  const slot = data.length ? (width - left) / data.length : 0;
  const text = summary(title, data, format);
  const ticks = data.length > 2 ? [0, Math.floor(data.length / 2), data.length - 1] : data.map((_, i) => i);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${plotH + 30}`} width="100%" role="img" aria-label={text}>
        <title>{text}</title>
        <line x1={left} x2={width} y1={plotH} y2={plotH} className="chart-axis" />
        <text x={left - 6} y={12} textAnchor="end" className="chart-value">
          {format(top)}
        </text>
        <text x={left - 6} y={plotH} textAnchor="end" className="chart-value">
          0
        </text>
        {data.map((d, i) => {
          const h = (d.value / top) * (plotH - 8);
          return (
            <rect key={d.label} x={left + i * slot + slot * 0.15} y={plotH - h} width={Math.max(1, slot * 0.7)} height={h} className="chart-bar">
              <title>{`${d.label}: ${format(d.value)}`}</title>
            </rect>
          );
        })}
        {ticks.map((i) => (
          <text key={i} x={left + i * slot + slot / 2} y={plotH + 18} textAnchor="middle" className="chart-label">
            {data[i].label.slice(5)}
          </text>
        ))}
      </svg>
      <figcaption className="muted small">{title}</figcaption>
    </figure>
  );
}

// ——— Shared pieces of the charts below ———

export interface Series {
  name: string;
  /** The CSS class giving the series its colour (admin.css: .series-*). */
  className: string;
}

/** The key to a chart's colours, as text beside it (not inside the image). */
export function Legend({ items }: { items: readonly Series[] }) {
  return (
    <ul className="chart-legend" aria-hidden="true">
      {items.map((s) => (
        <li key={s.name}>
          <svg width="12" height="12" viewBox="0 0 12 12" focusable="false">
            <rect width="12" height="12" rx="2" className={s.className} />
          </svg>
          {s.name}
        </li>
      ))}
    </ul>
  );
}

/** Up to three indexes to label under a time axis: first, middle, last. */
export function axisTicks(n: number): number[] {
  if (n <= 0) return [];
  if (n <= 3) return Array.from({ length: n }, (_, i) => i);
  return [0, Math.floor((n - 1) / 2), n - 1];
}

/** A vertical scale from `bottom` (≤ 0) to `top` onto pixels `y0` (top) … `y0 + height`. */
export function linearScale(bottom: number, top: number, y0: number, height: number): (v: number) => number {
  const span = top - bottom || 1;
  return (v: number) => y0 + ((top - v) / span) * height;
}

// ——— Stacked columns: MRR movements ———

export interface Segment {
  /** Where the segment starts and ends on the value scale (y0 nearer zero). */
  y0: number;
  y1: number;
}

/** Stacks each row's values (one per series) from zero: positive values upward one on top of
 * another, negative ones downward, each side in the order given. */
export function stackSeries(rows: readonly (readonly number[])[]): Segment[][] {
  return rows.map((values) => {
    let up = 0;
    let down = 0;
    return values.map((v) => {
      if (v >= 0) {
        const seg = { y0: up, y1: up + v };
        up += v;
        return seg;
      }
      const seg = { y0: down, y1: down + v };
      down += v;
      return seg;
    });
  });
}

/** The scale a stacked chart needs: the highest stack rounded up, the deepest down (0 when
 * nothing goes below zero), on the same steps. */
export function stackDomain(stacks: readonly Segment[][]): { bottom: number; top: number } {
  let max = 0;
  let min = 0;
  for (const row of stacks) for (const s of row) {
    max = Math.max(max, s.y1, s.y0);
    min = Math.min(min, s.y1, s.y0);
  }
  return { top: max > 0 ? niceMax(max) : min < 0 ? 0 : 1, bottom: min < 0 ? -niceMax(-min) : 0 };
}

/** Columns of signed parts per period (gains above zero, losses below), with a mark at the
 * net of each period. */
export function StackedColumnChart({
  title,
  summary: text,
  labels,
  series,
  values,
  net,
  format,
}: {
  title: string;
  summary: string;
  labels: string[];
  series: readonly Series[];
  /** values[period][series] */
  values: number[][];
  net?: number[];
  format: (n: number) => string;
}) {
  const width = 640;
  const top = 10;
  const plotH = 200;
  const left = 64;
  const stacks = stackSeries(values);
  const domain = stackDomain(stacks);
  const y = linearScale(domain.bottom, domain.top, top, plotH);
  const slot = labels.length ? (width - left) / labels.length : 0;
  const barW = Math.max(1, slot * 0.6);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${top + plotH + 30}`} width="100%" role="img" aria-label={text}>
        <title>{text}</title>
        <text x={left - 6} y={y(domain.top) + 4} textAnchor="end" className="chart-value">
          {format(domain.top)}
        </text>
        {domain.bottom < 0 && (
          <text x={left - 6} y={y(domain.bottom)} textAnchor="end" className="chart-value">
            {format(domain.bottom)}
          </text>
        )}
        <text x={left - 6} y={y(0) + 4} textAnchor="end" className="chart-value">
          0
        </text>
        {stacks.map((row, i) =>
          row.map((seg, j) => {
            const h = Math.abs(y(seg.y0) - y(seg.y1));
            if (h === 0) return null;
            return (
              <rect
                key={`${i}-${j}`}
                x={left + i * slot + (slot - barW) / 2}
                y={Math.min(y(seg.y0), y(seg.y1))}
                width={barW}
                height={h}
                className={`chart-seg ${series[j].className}`}
              >
                <title>{`${labels[i]}, ${series[j].name}: ${format(values[i][j])}`}</title>
              </rect>
            );
          }),
        )}
        <line x1={left} x2={width} y1={y(0)} y2={y(0)} className="chart-axis" />
        {net?.map((n, i) => (
          <path key={i} d={`M${left + i * slot + (slot - barW) / 2 - 3} ${y(n)}h${barW + 6}`} className="chart-net">
            <title>{`${labels[i]}, net: ${format(n)}`}</title>
          </path>
        ))}
        {axisTicks(labels.length).map((i) => (
          <text key={i} x={left + i * slot + slot / 2} y={top + plotH + 20} textAnchor="middle" className="chart-label">
            {labels[i]}
          </text>
        ))}
      </svg>
      <figcaption className="muted small">{title}</figcaption>
      <Legend items={net ? [...series, { name: 'Net', className: 'series-net' }] : series} />
    </figure>
  );
}

// ——— Line with bands: MRR history and its forecast ———

export interface ForecastPoint {
  mrr: number;
  low80: number;
  high80: number;
  low95: number;
  high95: number;
}

export interface ForecastGeometry {
  /** The value at the top of the scale (the bottom is 0). */
  top: number;
  /** x of each point: the history first, then the forecast. */
  xs: number[];
  history: string;
  forecast: string;
  band80: string;
  band95: string;
}

const pt = (x: number, y: number) => `${+x.toFixed(2)} ${+y.toFixed(2)}`;

/** A polyline through the points as an SVG path ("" for none). */
export function linePath(points: readonly (readonly [number, number])[]): string {
  return points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${pt(x, y)}`).join('');
}

/** A closed band: along the upper edge, back along the lower one. */
export function bandPath(upper: readonly (readonly [number, number])[], lower: readonly (readonly [number, number])[]): string {
  if (upper.length === 0) return '';
  return `${linePath(upper)}${[...lower].reverse().map(([x, y]) => `L${pt(x, y)}`).join('')}Z`;
}

/** Where the history, the forecast and its 80 % / 95 % bands go in a box. The forecast and
 * its bands start at the last month of the history (the bands from zero width there). */
export function forecastGeometry(
  history: readonly { mrr: number }[],
  forecast: readonly ForecastPoint[],
  box: { left: number; top: number; width: number; height: number },
): ForecastGeometry {
  const n = history.length + forecast.length;
  const top = niceMax(Math.max(0, ...history.map((h) => h.mrr), ...forecast.map((f) => f.high95)));
  const step = n > 1 ? box.width / (n - 1) : 0;
  const xs = Array.from({ length: n }, (_, i) => box.left + (n > 1 ? i * step : box.width / 2));
  const y = linearScale(0, top, box.top, box.height);
  const historyPts = history.map((h, i) => [xs[i], y(h.mrr)] as const);
  const last = history.length ? history[history.length - 1].mrr : null;
  const anchor = (f: (p: ForecastPoint) => number) => [
    ...(last === null ? [] : [[xs[history.length - 1], y(last)] as const]),
    ...forecast.map((p, i) => [xs[history.length + i], y(f(p))] as const),
  ];
  return {
    top,
    xs,
    history: linePath(historyPts),
    forecast: forecast.length ? linePath(anchor((p) => p.mrr)) : '',
    band80: forecast.length ? bandPath(anchor((p) => p.high80), anchor((p) => p.low80)) : '',
    band95: forecast.length ? bandPath(anchor((p) => p.high95), anchor((p) => p.low95)) : '',
  };
}

export const FORECAST_SERIES: readonly Series[] = [
  { name: 'MRR', className: 'series-history' },
  { name: 'Forecast', className: 'series-forecast' },
  { name: '80% interval', className: 'series-band80' },
  { name: '95% interval', className: 'series-band95' },
];

export function ForecastChart({
  title,
  summary: text,
  history,
  forecast,
  format,
}: {
  title: string;
  summary: string;
  history: readonly { month: string; mrr: number }[];
  forecast: readonly (ForecastPoint & { month: string })[];
  format: (n: number) => string;
}) {
  const width = 640;
  const box = { left: 64, top: 10, width: width - 64 - 12, height: 200 };
  const g = forecastGeometry(history, forecast, box);
  const y = linearScale(0, g.top, box.top, box.height);
  const months = [...history.map((h) => h.month), ...forecast.map((f) => f.month)];
  const ticks = [0, history.length - 1, months.length - 1].filter((v, i, all) => v >= 0 && all.indexOf(v) === i);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${box.top + box.height + 30}`} width="100%" role="img" aria-label={text}>
        <title>{text}</title>
        <text x={box.left - 6} y={y(g.top) + 4} textAnchor="end" className="chart-value">
          {format(g.top)}
        </text>
        <text x={box.left - 6} y={y(0) + 4} textAnchor="end" className="chart-value">
          0
        </text>
        {forecast.length > 0 && history.length > 0 && (
          <line x1={g.xs[history.length - 1]} x2={g.xs[history.length - 1]} y1={box.top} y2={y(0)} className="chart-now" />
        )}
        {g.band95 && <path d={g.band95} className="series-band95" />}
        {g.band80 && <path d={g.band80} className="series-band80" />}
        <line x1={box.left} x2={box.left + box.width} y1={y(0)} y2={y(0)} className="chart-axis" />
        {g.history && <path d={g.history} className="chart-line series-history" />}
        {g.forecast && <path d={g.forecast} className="chart-line chart-dashed series-forecast" />}
        {history.length === 1 && <circle cx={g.xs[0]} cy={y(history[0].mrr)} r={3} className="series-history" />}
        {ticks.map((i) => (
          <text
            key={i}
            x={g.xs[i]}
            y={box.top + box.height + 20}
            textAnchor={i === 0 ? 'start' : i === months.length - 1 ? 'end' : 'middle'}
            className="chart-label"
          >
            {months[i]}
          </text>
        ))}
      </svg>
      <figcaption className="muted small">{title}</figcaption>
      <Legend items={forecast.length ? FORECAST_SERIES : FORECAST_SERIES.slice(0, 1)} />
    </figure>
  );
}

// ——— Heat map: retention by cohort ———

const LIGHT = [238, 244, 251] as const;
const DARK = [11, 58, 117] as const;

/** The fill of a cell: from light (0) to dark (1 and above) blue. */
export function heatColor(value: number): string {
  const t = Math.min(1, Math.max(0, value));
  const c = LIGHT.map((l, i) => Math.round(l + (DARK[i] - l) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+/g) ?? ['0', '0', '0']).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Black or white text on a fill, whichever contrasts more (always at least 4.5:1 for one of
 * them). */
export function textOn(fill: string): '#000' | '#fff' {
  const l = luminance(fill);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? '#000' : '#fff';
}

export interface HeatRow {
  label: string;
  /** One value per column; null where the cohort has not reached that column yet. */
  values: (number | null)[];
}

export function HeatMap({
  title,
  summary: text,
  rows,
  columnLabel,
  format,
}: {
  title: string;
  summary: string;
  rows: readonly HeatRow[];
  columnLabel: (i: number) => string;
  format: (n: number) => string;
}) {
  const cols = Math.max(1, ...rows.map((r) => r.values.length));
  const labelW = 96;
  const colW = 46;
  const rowH = 22;
  const headH = 20;
  const width = labelW + cols * colW;
  const height = headH + rows.length * rowH + 2;
  return (
    <figure className="chart chart-heat">
      {/* Its natural size at most: a cohort or two are not blown up to the page's width. */}
      <svg viewBox={`0 0 ${width} ${height}`} width={width} className="chart-natural" role="img" aria-label={text}>
        <title>{text}</title>
        {Array.from({ length: cols }, (_, j) => (
          <text key={j} x={labelW + j * colW + colW / 2} y={14} textAnchor="middle" className="chart-label">
            {columnLabel(j)}
          </text>
        ))}
        {rows.map((r, i) => (
          <g key={r.label} transform={`translate(0 ${headH + i * rowH})`}>
            <text x={labelW - 6} y={rowH / 2 + 4} textAnchor="end" className="chart-label">
              {r.label}
            </text>
            {r.values.map((v, j) => {
              if (v === null) return null;
              const fill = heatColor(v);
              return (
                <g key={j}>
                  <rect x={labelW + j * colW + 1} y={1} width={colW - 2} height={rowH - 2} rx={2} fill={fill}>
                    <title>{`${r.label}, ${columnLabel(j)}: ${format(v)}`}</title>
                  </rect>
                  <text x={labelW + j * colW + colW / 2} y={rowH / 2 + 4} textAnchor="middle" className="chart-cell" fill={textOn(fill)}>
                    {format(v)}
                  </text>
                </g>
              );
            })}
          </g>
        ))}
      </svg>
      <figcaption className="muted small">{title}</figcaption>
    </figure>
  );
}

// ——— Funnel ———

export interface FunnelBar {
  label: string;
  value: number;
  /** Beside the value: "42% of the stage before". */
  note: string;
}

export function FunnelChart({ title, summary: text, stages, format }: { title: string; summary: string; stages: readonly FunnelBar[]; format: (n: number) => string }) {
  const rowH = 30;
  const labelW = 160;
  const barW = 300;
  const noteW = 200;
  const width = labelW + barW + noteW;
  const height = Math.max(1, stages.length) * rowH + 8;
  const lengths = barLengths(
    stages.map((s) => s.value),
    barW,
    Math.max(1, ...stages.map((s) => s.value)),
  );
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label={text}>
        <title>{text}</title>
        {stages.map((s, i) => (
          <g key={s.label} transform={`translate(0 ${i * rowH + 4})`}>
            <text x={labelW - 8} y={rowH / 2 + 4} textAnchor="end" className="chart-label">
              {s.label}
            </text>
            <rect x={labelW} y={4} width={barW} height={rowH - 8} rx={3} className="chart-track" />
            {lengths[i] > 0 && <rect x={labelW} y={4} width={lengths[i]} height={rowH - 8} rx={3} className="chart-bar" />}
            <text x={labelW + barW + 8} y={rowH / 2 + 4} className="chart-value">
              {format(s.value)} · {s.note}
            </text>
          </g>
        ))}
      </svg>
      <figcaption className="muted small">{title}</figcaption>
    </figure>
  );
}

// ——— Grouped columns with a range: time to plan ———

export interface RangeSeries extends Series {
  values: (number | null)[];
  /** A whisker from low to high (the quartiles) on each column, where given. */
  low?: (number | null)[];
  high?: (number | null)[];
}

export function GroupedColumnChart({
  title,
  summary: text,
  categories,
  series,
  format,
}: {
  title: string;
  summary: string;
  categories: string[];
  series: readonly RangeSeries[];
  format: (n: number) => string;
}) {
  const width = 640;
  const top = 10;
  const plotH = 180;
  const left = 64;
  const all = series.flatMap((s) => [...s.values, ...(s.high ?? [])]).filter((v): v is number => v !== null);
  const max = niceMax(Math.max(0, ...all));
  const y = linearScale(0, max, top, plotH);
  const slot = categories.length ? (width - left) / categories.length : 0;
  const colW = Math.min(48, (slot * 0.7) / Math.max(1, series.length));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${top + plotH + 30}`} width="100%" role="img" aria-label={text}>
        <title>{text}</title>
        <text x={left - 6} y={y(max) + 4} textAnchor="end" className="chart-value">
          {format(max)}
        </text>
        <text x={left - 6} y={y(0) + 4} textAnchor="end" className="chart-value">
          0
        </text>
        {categories.map((c, i) => {
          const x0 = left + i * slot + (slot - colW * series.length) / 2;
          return (
            <g key={c}>
              {series.map((s, j) => {
                const v = s.values[i];
                if (v === null || v === undefined) return null;
                const x = x0 + j * colW;
                const lo = s.low?.[i];
                const hi = s.high?.[i];
                return (
                  <g key={s.name}>
                    <rect x={x + 1} y={y(Math.max(0, v))} width={colW - 2} height={Math.max(0, y(0) - y(Math.max(0, v)))} className={s.className}>
                      <title>{`${c}, ${s.name}: ${format(v)}`}</title>
                    </rect>
                    {lo !== null && lo !== undefined && hi !== null && hi !== undefined && (
                      <path d={`M${x + colW / 2} ${y(Math.max(0, lo))}V${y(Math.max(0, hi))}`} className="chart-whisker" />
                    )}
                  </g>
                );
              })}
              {(categories.length <= 8 || axisTicks(categories.length).includes(i)) && (
                <text x={left + i * slot + slot / 2} y={top + plotH + 20} textAnchor="middle" className="chart-label">
                  {c}
                </text>
              )}
            </g>
          );
        })}
        <line x1={left} x2={width} y1={y(0)} y2={y(0)} className="chart-axis" />
      </svg>
      <figcaption className="muted small">{title}</figcaption>
      <Legend items={series} />
    </figure>
  );
}
