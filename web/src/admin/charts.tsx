// Two small charts drawn as SVG by hand (a chart library would weigh more than the console).
// Each is an image with a text summary; the numbers are in the table next to it.

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

/** Bar lengths in pixels for `width`, proportional to the values on a 0–niceMax scale. */
export function barLengths(values: number[], width: number): number[] {
  const top = niceMax(Math.max(0, ...values));
  return values.map((v) => Math.max(0, (v / top) * width));
}

function summary(title: string, data: Datum[], format: (n: number) => string): string {
  if (data.length === 0) return `${title}: no data`;
  const top = [...data].sort((a, b) => b.value - a.value)[0];
  return `${title}: ${data.length} ${data.length === 1 ? 'entry' : 'entries'}; highest ${top.label} at ${format(top.value)}.`;
}

/** Horizontal bars, one per label (providers, models, users), largest first as given. */
export function BarChart({ title, data, format }: { title: string; data: Datum[]; format: (n: number) => string }) {
  const rowH = 26;
  const labelW = 170;
  const valueW = 80;
  const barW = 360;
  const width = labelW + barW + valueW;
  const height = Math.max(1, data.length) * rowH + 8;
  const lengths = barLengths(
    data.map((d) => d.value),
    barW,
  );
  const text = summary(title, data, format);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label={text} preserveAspectRatio="xMinYMin meet">
        <title>{text}</title>
        {data.map((d, i) => (
          <g key={d.label} transform={`translate(0 ${i * rowH + 4})`}>
            <text x={labelW - 8} y={rowH / 2 + 4} textAnchor="end" className="chart-label">
              {d.label.length > 24 ? `${d.label.slice(0, 23)}…` : d.label}
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
