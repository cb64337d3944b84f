/**
 * A small canvas chart renderer for the page's live views: lines (solid, dashed, dotted),
 * markers with error bars, filled bands, and heatmaps with a color bar, on linear or logarithmic
 * axes, with a legend. Why not Plotly (which the CLI's HTML reports use, and which does run under
 * a CSP without 'unsafe-eval'): measured in this app on a 2-core machine, one Plotly.react of a
 * six-trace line plot blocked the page for 100-550 ms and loading it for 9 s, so the page could not
 * stay responsive while training. Drawing on a canvas takes a few milliseconds per view, and a
 * canvas exports to PNG as it is.
 */

export type Dash = 'solid' | 'dash' | 'dot';

export interface LineSeries {
  kind: 'line';
  x: number[];
  y: (number | null)[];
  color: string;
  dash?: Dash;
  width?: number;
  /** Legend entry; none when absent. */
  label?: string;
  markers?: boolean;
}

export interface MarkerSeries {
  kind: 'markers';
  x: number[];
  y: number[];
  color: string;
  shape?: 'circle' | 'square' | 'cross';
  size?: number;
  /** Half-lengths of vertical error bars. */
  error?: number[];
  label?: string;
}

export interface BandSeries {
  kind: 'band';
  x: number[];
  lower: number[];
  upper: number[];
  color: string;
  label?: string;
}

export type ChartSeries = LineSeries | MarkerSeries | BandSeries;

export interface Axis {
  label: string;
  log?: boolean;
  /** Forced limits (else from the data). */
  min?: number;
  max?: number;
}

export interface LineChart {
  kind: 'lines';
  x: Axis;
  y: Axis;
  series: ChartSeries[];
  /** A note drawn in the plot's top-left corner (e.g. a fitted slope). */
  note?: string;
}

export interface HeatmapChart {
  kind: 'heatmap';
  size: number;
  /** Row-major size x size. */
  values: number[];
  /** Indices where a new block starts (drawn as thin lines). */
  cuts: number[];
  xLabel: string;
  colorLabel: string;
}

export type Chart = LineChart | HeatmapChart;

const FONT = '12px system-ui, sans-serif';
const SMALL = '11px system-ui, sans-serif';
const DASHES: Record<Dash, number[]> = { solid: [], dash: [7, 4], dot: [2, 3] };

interface Scale {
  toPx(v: number): number;
  ticks: { value: number; label: string }[];
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) {
    const [m, e] = v.toExponential(0).split('e');
    return `${m}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(3)));
}

/** Data limits of an axis over finite values (positive ones for a log axis), padded a little. */
function limits(values: number[], axis: Axis): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (axis.log && v <= 0)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (!Number.isFinite(lo)) [lo, hi] = axis.log ? [1, 10] : [0, 1];
  lo = axis.min ?? lo;
  hi = axis.max ?? hi;
  if (axis.log) {
    if (hi / lo < 1.0001) [lo, hi] = [lo / 2, hi * 2];
    const pad = Math.pow(hi / lo, 0.04);
    return [axis.min ?? lo / pad, axis.max ?? hi * pad];
  }
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) [lo, hi] = [lo - 0.5 * (Math.abs(lo) || 1), hi + 0.5 * (Math.abs(hi) || 1)];
  const pad = 0.05 * (hi - lo);
  return [axis.min ?? lo - pad, axis.max ?? hi + pad];
}

function linearTicks(lo: number, hi: number, target: number): number[] {
  const raw = (hi - lo) / target;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const decades = Math.log10(hi / lo);
  const mantissas = decades < 1.2 ? [1, 2, 3, 5, 7] : decades < 3 ? [1, 2, 5] : [1];
  const every = decades > 8 ? 2 : 1;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    if (mantissas.length === 1 && e % every !== 0) continue;
    for (const m of mantissas) {
      const v = m * Math.pow(10, e);
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

function scale(lo: number, hi: number, log: boolean, from: number, to: number, target: number): Scale {
  const f = log ? Math.log10 : (v: number) => v;
  const a = f(lo);
  const b = f(hi);
  const toPx = (v: number) => from + ((f(v) - a) / (b - a)) * (to - from);
  const values = log ? logTicks(lo, hi) : linearTicks(lo, hi, target);
  return { toPx, ticks: values.map((value) => ({ value, label: formatTick(value) })) };
}

/** Prepares a canvas for drawing at the device's pixel ratio; returns its CSS size. */
function setup(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const ratio = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  return ctx;
}

function legendEntries(series: ChartSeries[]): ChartSeries[] {
  const seen = new Set<string>();
  return series.filter((s) => s.label && !seen.has(s.label) && seen.add(s.label));
}

function drawMarker(ctx: CanvasRenderingContext2D, shape: MarkerSeries['shape'], x: number, y: number, r: number): void {
  ctx.beginPath();
  if (shape === 'square') ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else if (shape === 'cross') {
    ctx.moveTo(x - r, y - r);
    ctx.lineTo(x + r, y + r);
    ctx.moveTo(x + r, y - r);
    ctx.lineTo(x - r, y + r);
    ctx.stroke();
    return;
  } else ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fill();
}

function legendSwatch(ctx: CanvasRenderingContext2D, s: ChartSeries, x: number, y: number): void {
  ctx.save();
  ctx.strokeStyle = s.color;
  ctx.fillStyle = s.color;
  if (s.kind === 'line') {
    ctx.lineWidth = s.width ?? 1.6;
    ctx.setLineDash(DASHES[s.dash ?? 'solid']);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 22, y);
    ctx.stroke();
  } else if (s.kind === 'band') {
    ctx.fillRect(x, y - 5, 22, 10);
  } else {
    ctx.lineWidth = 1.5;
    drawMarker(ctx, s.shape, x + 11, y, (s.size ?? 6) / 2);
  }
  ctx.restore();
}

/** Lays out and draws the legend below the plot; returns its height. */
function legendHeight(ctx: CanvasRenderingContext2D, entries: ChartSeries[], width: number): number {
  ctx.font = SMALL;
  let x = 0;
  let rows = entries.length ? 1 : 0;
  for (const s of entries) {
    const w = 30 + ctx.measureText(s.label!).width + 14;
    if (x + w > width && x > 0) {
      rows++;
      x = 0;
    }
    x += w;
  }
  return rows * 16;
}

function drawLegend(ctx: CanvasRenderingContext2D, entries: ChartSeries[], left: number, top: number, width: number): void {
  ctx.font = SMALL;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  let x = 0;
  let y = top + 8;
  for (const s of entries) {
    const w = 30 + ctx.measureText(s.label!).width + 14;
    if (x + w > width && x > 0) {
      x = 0;
      y += 16;
    }
    legendSwatch(ctx, s, left + x, y);
    ctx.fillStyle = '#222';
    ctx.fillText(s.label!, left + x + 28, y);
    x += w;
  }
}

function drawLines(ctx: CanvasRenderingContext2D, chart: LineChart, width: number, height: number, title?: string): void {
  const entries = legendEntries(chart.series);
  // A note gets its own line above the plot area, never over the data.
  const noteTop = title ? 30 : 8;
  const top = noteTop + (chart.note ? 20 : 2);
  const left = 62;
  const right = width - 12;
  const legend = legendHeight(ctx, entries, right - left);
  const bottom = height - 40 - legend;
  if (title) {
    ctx.font = 'bold 14px system-ui, sans-serif';
    ctx.fillStyle = '#111';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(title, left, 8);
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of chart.series) {
    xs.push(...s.x);
    if (s.kind === 'band') ys.push(...s.lower, ...s.upper);
    else if (s.kind === 'markers' && s.error) s.y.forEach((v, i) => ys.push(v - s.error![i], v + s.error![i]));
    else ys.push(...(s.y.filter((v) => v !== null) as number[]));
  }
  const [x0, x1] = limits(xs, chart.x);
  const [y0, y1] = limits(ys, chart.y);
  const sx = scale(x0, x1, !!chart.x.log, left, right, Math.max(3, (right - left) / 90));
  const sy = scale(y0, y1, !!chart.y.log, bottom, top, Math.max(3, (bottom - top) / 45));

  // Grid, ticks and labels.
  ctx.font = SMALL;
  ctx.strokeStyle = '#e6e6e6';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#333';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of sx.ticks) {
    const px = sx.toPx(t.value);
    ctx.beginPath();
    ctx.moveTo(px, top);
    ctx.lineTo(px, bottom);
    ctx.stroke();
    ctx.fillText(t.label, px, bottom + 4);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of sy.ticks) {
    const py = sy.toPx(t.value);
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(right, py);
    ctx.stroke();
    ctx.fillText(t.label, left - 4, py);
  }
  ctx.strokeStyle = '#666';
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.font = FONT;
  ctx.fillStyle = '#111';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillText(chart.x.label, (left + right) / 2, bottom + 20);
  ctx.save();
  ctx.translate(14, (top + bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(chart.y.label, 0, 0);
  ctx.restore();

  // Series, clipped to the plot area; points off a log axis (<= 0) break the line.
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, right - left, bottom - top);
  ctx.clip();
  const okX = (v: number) => Number.isFinite(v) && (!chart.x.log || v > 0);
  const okY = (v: number | null): v is number => v !== null && Number.isFinite(v) && (!chart.y.log || v > 0);
  for (const s of chart.series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    if (s.kind === 'band') {
      ctx.beginPath();
      let started = false;
      s.x.forEach((x, i) => {
        if (!okX(x) || !okY(s.upper[i])) return;
        if (!started) ctx.moveTo(sx.toPx(x), sy.toPx(s.upper[i]));
        else ctx.lineTo(sx.toPx(x), sy.toPx(s.upper[i]));
        started = true;
      });
      for (let i = s.x.length - 1; i >= 0; i--) if (okX(s.x[i]) && okY(s.lower[i])) ctx.lineTo(sx.toPx(s.x[i]), sy.toPx(s.lower[i]));
      ctx.closePath();
      ctx.fill();
    } else if (s.kind === 'line') {
      ctx.lineWidth = s.width ?? 1.6;
      ctx.setLineDash(DASHES[s.dash ?? 'solid']);
      ctx.beginPath();
      let pen = false;
      s.x.forEach((x, i) => {
        const y = s.y[i];
        if (!okX(x) || !okY(y)) {
          pen = false;
          return;
        }
        if (pen) ctx.lineTo(sx.toPx(x), sy.toPx(y));
        else ctx.moveTo(sx.toPx(x), sy.toPx(y));
        pen = true;
      });
      ctx.stroke();
      ctx.setLineDash([]);
      if (s.markers) s.x.forEach((x, i) => okX(x) && okY(s.y[i]) && drawMarker(ctx, 'circle', sx.toPx(x), sy.toPx(s.y[i]!), 2.5));
    } else {
      ctx.lineWidth = 1.2;
      s.x.forEach((x, i) => {
        if (!okX(x) || !okY(s.y[i])) return;
        const px = sx.toPx(x);
        const py = sy.toPx(s.y[i]);
        if (s.error) {
          const e = s.error[i];
          const lo = okY(s.y[i] - e) ? sy.toPx(s.y[i] - e) : bottom;
          ctx.beginPath();
          ctx.moveTo(px, lo);
          ctx.lineTo(px, sy.toPx(s.y[i] + e));
          ctx.stroke();
        }
        drawMarker(ctx, s.shape, px, py, (s.size ?? 6) / 2);
      });
    }
  }
  ctx.restore();
  if (chart.note) {
    ctx.font = FONT;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillStyle = '#111';
    ctx.fillText(chart.note, left, noteTop);
  }
  drawLegend(ctx, entries, left, bottom + 36, right - left);
}

/** Viridis, sampled at 9 points and interpolated linearly. */
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

export function viridis(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  return [0, 1, 2].map((k) => Math.round(VIRIDIS[i][k] + f * (VIRIDIS[i + 1][k] - VIRIDIS[i][k]))) as [number, number, number];
}

function drawHeatmap(ctx: CanvasRenderingContext2D, chart: HeatmapChart, width: number, height: number, title?: string): void {
  const top = title ? 30 : 10;
  if (title) {
    ctx.font = 'bold 14px system-ui, sans-serif';
    ctx.fillStyle = '#111';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(title, 12, 8);
  }
  const { size, values } = chart;
  const side = Math.max(10, Math.min(width - 140, height - top - 40));
  const left = Math.max(12, (width - 110 - side) / 2);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (!(hi > lo)) hi = lo + 1;
  // One rectangle per entry (at most 64 x 64): cheaper on a busy page than an image upload.
  const cell = side / size;
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const [r, g, b] = viridis((values[i * size + j] - lo) / (hi - lo));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(left + j * cell, top + i * cell, cell + 0.5, cell + 0.5);
    }
  }
  ctx.strokeStyle = 'rgba(255,255,255,0.9)';
  ctx.lineWidth = 1;
  for (const c of chart.cuts) {
    const p = (c / size) * side;
    ctx.beginPath();
    ctx.moveTo(left + p, top);
    ctx.lineTo(left + p, top + side);
    ctx.moveTo(left, top + p);
    ctx.lineTo(left + side, top + p);
    ctx.stroke();
  }
  ctx.strokeStyle = '#666';
  ctx.strokeRect(left, top, side, side);
  ctx.font = FONT;
  ctx.fillStyle = '#111';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillText(chart.xLabel, left + side / 2, top + side + 8);
  // The color bar.
  const bx = left + side + 24;
  for (let i = 0; i < side; i++) {
    const [r, g, b] = viridis(1 - i / side);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(bx, top + i, 14, 1.5);
  }
  ctx.strokeRect(bx, top, 14, side);
  ctx.font = SMALL;
  ctx.fillStyle = '#333';
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  for (const t of linearTicks(lo, hi, 5)) ctx.fillText(formatTick(t), bx + 18, top + side - ((t - lo) / (hi - lo)) * side);
  ctx.save();
  ctx.translate(bx + 80, top + side / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.font = FONT;
  ctx.textAlign = 'center';
  ctx.fillText(chart.colorLabel, 0, 0);
  ctx.restore();
}

/**
 * Draws `chart` on `canvas` at `width` x `height` CSS pixels (with an optional title, for exports).
 * @example drawChart(canvas, { kind: 'lines', x: { label: 'step', log: true }, y: { label: 'loss' }, series: [] }, 600, 320);
 */
export function drawChart(canvas: HTMLCanvasElement, chart: Chart, width: number, height: number, title?: string): void {
  const ctx = setup(canvas, width, height);
  if (chart.kind === 'heatmap') drawHeatmap(ctx, chart, width, height, title);
  else drawLines(ctx, chart, width, height, title);
}
