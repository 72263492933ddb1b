// Two charts drawn as plain SVG: version adoption over time (stacked lines) and a telemetry
// sparkline. Each carries its numbers as text too (a caption / a table), for screen readers and
// for anyone who wants the figures, not the shape.
export interface Series {
  name: string;
  points: Array<{ t: number; v: number }>;
}

const COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2', '#4b5563'];
export const colorOf = (i: number) => COLORS[i % COLORS.length];

function scale(d0: number, d1: number, r0: number, r1: number) {
  const span = d1 - d0 || 1;
  return (x: number) => r0 + ((x - d0) / span) * (r1 - r0);
}

/** HH:MM, or HH:MM:SS when the chart spans less than an hour. */
const timeLabel = (t: number, span: number) => new Date(t).toISOString().slice(11, span < 3_600_000 ? 19 : 16);

/** Lines over time on one y axis (devices per release). */
export function LineChart(props: { label: string; series: Series[]; yMax?: number; height?: number }) {
  // Drawn at 960 wide and scaled as a whole with the page (text keeps its proportions).
  const W = 960;
  const H = props.height ?? 240;
  const pad = { l: 44, r: 12, t: 12, b: 26 };
  const all = props.series.flatMap((s) => s.points);
  if (all.length === 0) return null;
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const yMax = props.yMax ?? Math.max(1, ...all.map((p) => p.v));
  const x = scale(t0, t1, pad.l, W - pad.r);
  const y = scale(0, yMax, H - pad.b, pad.t);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.label}>
        <line x1={pad.l} y1={y(0)} x2={W - pad.r} y2={y(0)} class="axis" />
        <line x1={pad.l} y1={y(yMax)} x2={W - pad.r} y2={y(yMax)} class="grid" />
        <text x={pad.l - 4} y={y(yMax) + 4} class="tick" text-anchor="end">
          {yMax}
        </text>
        <text x={pad.l - 4} y={y(0)} class="tick" text-anchor="end">
          0
        </text>
        <text x={pad.l} y={H - 4} class="tick">
          {timeLabel(t0, t1 - t0)}
        </text>
        <text x={W - pad.r} y={H - 4} class="tick" text-anchor="end">
          {timeLabel(t1, t1 - t0)}
        </text>
        {props.series.map((s, i) => (
          <polyline key={s.name} fill="none" stroke={colorOf(i)} stroke-width="3" points={s.points.map((p) => `${x(p.t)},${y(p.v)}`).join(' ')} />
        ))}
      </svg>
      <figcaption class="legend">
        {props.series.map((s, i) => (
          <span key={s.name}>
            <i style={{ background: colorOf(i) }} aria-hidden="true" />
            {s.name}: {s.points.at(-1)?.v ?? 0}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** A small line of recent values, with min and max. */
export function Sparkline(props: { label: string; values: number[] }) {
  const W = 160;
  const H = 32;
  if (props.values.length < 2) return null;
  const lo = Math.min(...props.values);
  const hi = Math.max(...props.values);
  const x = scale(0, props.values.length - 1, 1, W - 1);
  const y = scale(lo, hi === lo ? lo + 1 : hi, H - 2, 2);
  return (
    <svg class="spark" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.label}: ${props.values.length} values from ${lo} to ${hi}`}>
      <polyline fill="none" stroke={colorOf(0)} stroke-width="1.5" points={props.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')} />
    </svg>
  );
}
