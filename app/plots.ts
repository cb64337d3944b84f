/**
 * The page's views as chart specs (app/chart.ts draws them), built from what the worker posts.
 * The styles follow the CLI's report (cli/study-report.ts): solid = network, dashed = linearized
 * step by step, dotted = closed form. Time axes are logarithmic (steps >= 1).
 */
import type { Series } from '../cli/study.ts';
import type { Chart, ChartSeries, LineChart } from './chart.ts';
import type { GpView } from './compute/gp.ts';
import type { NtkView, StudyLive } from './compute/study.ts';
import type { SweepResult } from './compute/sweep.ts';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const STYLES = {
  network: { dash: 'solid', name: 'network' },
  linearized: { dash: 'dash', name: 'linearized' },
  closedForm: { dash: 'dot', name: 'closed form' },
} as const;
const STEP_AXIS = { label: 'gradient descent step', log: true } as const;

function traces(s: Series, label: string, color: string, withLabel = true): ChartSeries[] {
  const keep = s.steps.map((t, i) => [t, i] as const).filter(([t]) => t >= 1);
  return (Object.keys(STYLES) as (keyof typeof STYLES)[]).map((k) => ({
    kind: 'line',
    x: keep.map(([t]) => t),
    y: keep.map(([, i]) => s[k][i]),
    color,
    dash: STYLES[k].dash,
    ...(withLabel ? { label: `${label}${STYLES[k].name}` } : {}),
  }));
}

/** Legend entries for the three line styles alone (colors then need no legend of their own). */
function styleKey(): ChartSeries[] {
  return (Object.keys(STYLES) as (keyof typeof STYLES)[]).map((k) => ({ kind: 'line', x: [], y: [], color: '#444', dash: STYLES[k].dash, label: STYLES[k].name }));
}

export function lossChart(l: StudyLive): Chart {
  return {
    kind: 'lines', x: STEP_AXIS, y: { label: 'loss ½ mean (f − y)²', log: true },
    series: [...traces(l.trainLoss, 'train: ', COLORS[0]), ...traces(l.testLoss, 'test: ', COLORS[1])],
  };
}

export function outputsChart(l: StudyLive): Chart {
  const points = l.testOutputs.flatMap((p, i) => traces(p.series, '', COLORS[i % COLORS.length], false));
  const targets: ChartSeries[] = l.testOutputs.map((p, i) => ({ kind: 'markers', x: [l.trainLoss.steps[l.trainLoss.steps.length - 1]], y: [p.label], color: COLORS[i % COLORS.length], shape: 'cross', size: 10 }));
  const label: ChartSeries[] = l.testOutputs.length ? [{ kind: 'markers', x: [], y: [], color: '#444', shape: 'cross', size: 10, label: 'target y' }] : [];
  return { kind: 'lines', x: STEP_AXIS, y: { label: 'f(x) on test points' }, series: [...points, ...targets, ...styleKey(), ...label] };
}

export function weightsChart(l: StudyLive): Chart {
  return { kind: 'lines', x: STEP_AXIS, y: { label: 'weight value' }, series: l.weights.flatMap((w, i) => traces(w.series, `${w.name}: `, COLORS[i % COLORS.length])) };
}

export function rmseChart(l: StudyLive): Chart {
  const r = l.rmseNetworkVsLinearized;
  const keep = r.steps.map((t, i) => [t, i] as const).filter(([t]) => t >= 1);
  return {
    kind: 'lines', x: STEP_AXIS, y: { label: 'RMSE on the test set', min: 0 },
    series: [
      { kind: 'line', x: keep.map(([t]) => t), y: keep.map(([, i]) => r.stepByStep[i]), color: COLORS[0], label: 'vs linearized step by step' },
      { kind: 'line', x: keep.map(([t]) => t), y: keep.map(([, i]) => r.closedForm[i]), color: COLORS[1], dash: 'dot', label: 'vs closed form (empirical Θ₀)' },
      { kind: 'line', x: keep.map(([t]) => t), y: keep.map(([, i]) => r.analytic[i]), color: COLORS[2], dash: 'dash', label: 'vs closed form with the analytic Θ' },
    ],
  };
}

export function ntkHeatmapChart(v: NtkView): Chart {
  const { size, labels } = v.heatmap;
  const cuts = labels.map((y, i) => (i > 0 && y !== labels[i - 1] ? i : -1)).filter((i) => i > 0);
  return { kind: 'heatmap', size, values: v.heatmap.values, cuts: cuts.length <= 4 ? cuts : [], xLabel: `training points sorted by target; step ${v.step}`, colorLabel: 'Θ(x, x′)' };
}

export function ntkSpectrumChart(v: NtkView, lr: number | null): Chart {
  const index = (a: number[]) => a.map((_, i) => i + 1);
  const series: ChartSeries[] = [
    { kind: 'line', x: index(v.spectrum0), y: v.spectrum0, color: COLORS[0], markers: true, label: 'Θ₀ (initialization)' },
    { kind: 'line', x: index(v.spectrumT), y: v.spectrumT, color: COLORS[1], dash: 'dash', label: `Θ at step ${v.step}` },
  ];
  if (lr !== null) series.push({ kind: 'line', x: [1, Math.max(2, v.spectrum0.length)], y: [2 / lr, 2 / lr], color: '#555', dash: 'dot', label: '2/η: stable while λ_max is below' });
  return { kind: 'lines', x: { label: 'eigenvalue index', log: true }, y: { label: 'eigenvalue of Θ', log: true }, series };
}

export function ntkChangeChart(v: NtkView): Chart {
  const keep = v.change.steps.map((t, i) => [t, i] as const).filter(([t]) => t >= 1);
  return {
    kind: 'lines', x: STEP_AXIS, y: { label: 'relative change of the NTK', min: 0 },
    series: [{ kind: 'line', x: keep.map(([t]) => t), y: keep.map(([, i]) => v.change.values[i]), color: COLORS[2], markers: true, label: '‖Θ_t − Θ₀‖ / ‖Θ₀‖' }],
  };
}

function fitLine(widths: number[], values: number[], slope: number | null): number[] {
  if (slope === null) return [];
  // The least-squares line passes through the means of the logs.
  const mx = widths.reduce((s, w) => s + Math.log(w), 0) / widths.length;
  const my = values.reduce((s, v) => s + Math.log(v), 0) / values.length;
  return widths.map((w) => Math.exp(my + slope * (Math.log(w) - mx)));
}

export function sweepChart(r: SweepResult): LineChart {
  const w = r.points.map((p) => p.width);
  const gap = r.points.map((p) => p.rmse);
  const change = r.points.map((p) => p.ntkChange);
  const fmt = (s: number | null) => (s === null ? '—' : s.toFixed(2));
  return {
    kind: 'lines', x: { label: 'width', log: true }, y: { label: `after ${r.steps} steps`, log: true },
    note: `slopes: gap ${fmt(r.rmseSlope)}, NTK change ${fmt(r.ntkChangeSlope)}`,
    series: [
      { kind: 'markers', x: w, y: gap, color: COLORS[0], size: 8, label: 'RMSE(network, linearization), test' },
      { kind: 'line', x: w, y: fitLine(w, gap, r.rmseSlope), color: COLORS[0], dash: 'dot', label: `fit, slope ${fmt(r.rmseSlope)}` },
      { kind: 'markers', x: w, y: change, color: COLORS[2], shape: 'square', size: 8, label: '‖Θ_T − Θ₀‖ / ‖Θ₀‖' },
      { kind: 'line', x: w, y: fitLine(w, change, r.ntkChangeSlope), color: COLORS[2], dash: 'dot', label: `fit, slope ${fmt(r.ntkChangeSlope)}` },
    ],
  };
}

export function gpChart(v: GpView): Chart {
  const x = v.line;
  const band = (mean: number[], sd: number[]) => ({ lower: mean.map((m, i) => m - 2 * sd[i]), upper: mean.map((m, i) => m + 2 * sd[i]) });
  const every = (a: number[]) => a.filter((_, i) => i % 4 === 0);
  // The vertical range follows the trained GP, the ensemble and the targets; the prior band (often
  // much wider) is cut at the edges rather than squeezing everything else flat.
  const trained = band(v.gp.mean, v.gp.sd);
  const ys = [...trained.lower, ...trained.upper, ...v.trainY, ...v.ensemble.mean.map((m, i) => m - 2 * v.ensemble.sd[i]), ...v.ensemble.mean.map((m, i) => m + 2 * v.ensemble.sd[i])];
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const pad = 0.08 * (hi - lo || 1);
  return {
    kind: 'lines', x: { label: v.axis === 'x' ? 'x' : 'α: x = (1 − α) x₀ + α x₁' }, y: { label: 'f(x)', min: lo - pad, max: hi + pad },
    series: [
      { kind: 'band', x, ...band(v.prior.mean, v.prior.sd), color: 'rgba(150, 150, 150, 0.18)', label: 'GP prior (step 0) ± 2 sd' },
      { kind: 'band', x, ...band(v.gp.mean, v.gp.sd), color: 'rgba(31, 119, 180, 0.22)', label: `GP at step ${v.steps} ± 2 sd` },
      ...v.ensemble.members.map((f, i): ChartSeries => ({ kind: 'line', x, y: f, color: 'rgba(80, 80, 80, 0.35)', width: 1, ...(i === 0 ? { label: 'single networks' } : {}) })),
      { kind: 'line', x, y: v.gp.mean, color: 'rgb(31, 119, 180)', width: 2, label: 'GP mean' },
      { kind: 'markers', x: every(x), y: every(v.ensemble.mean), error: every(v.ensemble.sd).map((s) => 2 * s), color: 'rgb(214, 39, 40)', size: 5, label: `ensemble (${v.ensemble.count}/${v.ensemble.of}) mean ± 2 sd` },
      { kind: 'markers', x: v.trainAt, y: v.trainY, color: '#000', shape: 'cross', size: 9, label: 'training points' },
    ],
  };
}
