/** Plot builders shared by the figures (Plotly traces, as cli/report.ts draws them). */
import type { PlotSpec } from '../report.ts';
import type { SlopeEstimate } from './fit.ts';

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2'];

export interface SweepSeries {
  name: string;
  /** perSeed[seed][i] at xs[i]. */
  perSeed: number[][];
  fit: SlopeEstimate | null;
}

/** Geometric mean over seeds at each x (the average of a log-log plot). */
export function geometricMean(perSeed: readonly (readonly number[])[]): number[] {
  return perSeed[0].map((_, i) => Math.exp(perSeed.reduce((s, row) => s + Math.log(row[i]), 0) / perSeed.length));
}

/**
 * A log-log sweep: each seed as faint markers, the geometric mean as a line, and the fitted power
 * law (mean slope through the mean's centroid) dashed, its slope in the legend.
 */
export function sweepPlot(title: string, xs: readonly number[], series: readonly SweepSeries[], xTitle: string, yTitle: string): PlotSpec {
  const data: unknown[] = [];
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    s.perSeed.forEach((row, seed) =>
      data.push({ x: xs, y: row, mode: 'markers', marker: { color, opacity: 0.35, size: 5 }, name: `${s.name} (seeds)`, legendgroup: s.name, showlegend: seed === 0 }),
    );
    const gm = geometricMean(s.perSeed);
    data.push({ x: xs, y: gm, mode: 'lines+markers', line: { color }, name: `${s.name} (geometric mean)`, legendgroup: s.name });
    if (s.fit) {
      const fx = s.fit.xs;
      const sel = fx.map((x) => gm[xs.indexOf(x)]);
      const lx = fx.map(Math.log);
      const ly = sel.map(Math.log);
      const cx = lx.reduce((a, b) => a + b, 0) / lx.length;
      const cy = ly.reduce((a, b) => a + b, 0) / ly.length;
      const ends = [fx[0], fx[fx.length - 1]];
      data.push({
        x: ends, y: ends.map((x) => Math.exp(cy + s.fit!.slope * (Math.log(x) - cx))), mode: 'lines', line: { color, dash: 'dash' },
        name: `${s.name}: slope ${s.fit.slope.toFixed(2)}${s.fit.interval ? ` [${s.fit.interval[0].toFixed(2)}, ${s.fit.interval[1].toFixed(2)}]` : ''}`, legendgroup: s.name,
      });
    }
  });
  return { title, data, layout: { xaxis: { type: 'log', title: { text: xTitle } }, yaxis: { type: 'log', title: { text: yTitle } } } };
}

/** Curves over training steps (log time axis, steps >= 1). */
export function stepsPlot(title: string, steps: readonly number[], curves: readonly { name: string; y: readonly number[]; dash?: string; color?: string }[], yTitle: string, logY = false): PlotSpec {
  const keep = steps.map((s, i) => [s, i] as const).filter(([s]) => s >= 1);
  return {
    title,
    data: curves.map((c) => ({ x: keep.map(([s]) => s), y: keep.map(([, i]) => c.y[i]), mode: 'lines', name: c.name, line: { dash: c.dash ?? 'solid', ...(c.color ? { color: c.color } : {}) } })),
    layout: { xaxis: { type: 'log', title: { text: 'step' } }, yaxis: { title: { text: yTitle }, ...(logY ? { type: 'log' } : {}) } },
  };
}
