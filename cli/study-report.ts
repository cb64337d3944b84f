/** Turns a StudyReport into the summary table and the Figure-3-shaped plots. */
import type { HtmlReport, PlotSpec } from './report.ts';
import type { Series, StudyReport } from './study.ts';

const STYLES = {
  network: { dash: 'solid', name: 'network' },
  linearized: { dash: 'dash', name: 'linearized (step by step)' },
  closedForm: { dash: 'dot', name: 'closed form (NTK at init)' },
} as const;

/** Steps >= 1 only: the time axis is logarithmic. */
function traces(s: Series, label: string, color?: string): unknown[] {
  const keep = s.steps.map((t, i) => [t, i] as const).filter(([t]) => t >= 1);
  return (Object.keys(STYLES) as (keyof typeof STYLES)[]).map((k) => ({
    x: keep.map(([t]) => t),
    y: keep.map(([, i]) => s[k][i]),
    mode: 'lines',
    name: `${label}${STYLES[k].name}`,
    line: { dash: STYLES[k].dash, ...(color ? { color } : {}) },
  }));
}

const logX = (y: string, logY = false) => ({ xaxis: { type: 'log', title: { text: 'gradient descent step' } }, yaxis: { title: { text: y }, ...(logY ? { type: 'log' } : {}) } });
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function summaryRows(r: StudyReport): [string, string][] {
  const last = r.trainLoss.steps.length - 1;
  const rows: [string, string][] = [
    ['setup', `${r.options.dataset}, ReLU FC depth ${r.options.depth} width ${r.options.width} (${r.parameterCount.toLocaleString()} params), |D| = ${r.options.trainSize}, NTK parameterization, full-batch GD`],
    ['backend', `${r.backend} (${r.backendReason})`],
    ['loss / learning rate', `${r.options.loss}, eta = ${r.lr.toPrecision(4)} (stable threshold 2/lambda_max = ${r.maxStableLearningRate.toPrecision(4)}), ${r.options.steps} steps`],
    ['final train loss (network / linearized / closed form)', [r.trainLoss.network[last], r.trainLoss.linearized[last], r.trainLoss.closedForm[last]].map((v) => v.toExponential(3)).join(' / ')],
    ['final test loss (network / linearized / closed form)', [r.testLoss.network[last], r.testLoss.linearized[last], r.testLoss.closedForm[last]].map((v) => v.toExponential(3)).join(' / ')],
    ['RMSE of test outputs, network vs linearized (final)', r.rmseNetworkVsLinearized.stepByStep[last].toExponential(3)],
    ['RMSE of test outputs, network vs prediction from the analytic Theta (final)', r.rmseNetworkVsLinearized.analytic[last].toExponential(3)],
    ['relative kernel error ||Theta_0 - Theta_analytic|| / ||Theta_analytic||', r.relativeKernelError.toExponential(3)],
    ['max |linearized step by step - closed form| (train)', r.linearizedVsClosedFormMaxDiff.toExponential(2)],
    ['relative NTK change ||Theta_T - Theta_0|| / ||Theta_0||', r.relativeNtkChange.toExponential(3)],
  ];
  for (const w of r.relativeWeightChange) rows.push([`relative weight change ${w.name}`, w.value.toExponential(3)]);
  rows.push(['time (s): NTK / network / linearized / closed form / total', Object.values(r.seconds).map((s) => s.toFixed(1)).join(' / ')]);
  return rows;
}

export function studyHtml(r: StudyReport): HtmlReport {
  const plots: PlotSpec[] = [
    { title: 'Loss 0.5·mean((f − y)²) over training', data: [...traces(r.trainLoss, 'train: ', COLORS[0]), ...traces(r.testLoss, 'test: ', COLORS[1])], layout: logX('loss', true) },
    {
      title: 'Test outputs of a few test points',
      data: r.testOutputs.flatMap((p, i) => traces(p.series, `x${p.index} (y=${p.label}): `, COLORS[i % COLORS.length])),
      layout: logX('f(x)'),
    },
    { title: 'Individual weights', data: r.weights.flatMap((w, i) => traces(w.series, `${w.name}: `, COLORS[i % COLORS.length])), layout: logX('weight value') },
    {
      title: 'RMSE on the test set between the network and the linearized dynamics with the empirical Θ_0 vs with the analytic Θ',
      data: [
        { x: r.rmseNetworkVsLinearized.steps.filter((t) => t >= 1), y: r.rmseNetworkVsLinearized.closedForm.filter((_, i) => r.rmseNetworkVsLinearized.steps[i] >= 1), mode: 'lines', name: 'empirical Θ_0 (closed form = step by step)' },
        { x: r.rmseNetworkVsLinearized.steps.filter((t) => t >= 1), y: r.rmseNetworkVsLinearized.analytic.filter((_, i) => r.rmseNetworkVsLinearized.steps[i] >= 1), mode: 'lines', line: { dash: 'dash' }, name: 'analytic Θ (infinite width), same f_0' },
      ],
      layout: logX('RMSE', true),
    },
  ];
  return {
    title: 'Wide network vs its linearization (Lee et al. 2019, Figure 3)',
    summary: summaryRows(r),
    plots,
    notes: ['Solid: the network trained by gradient descent. Dashed: the linearized network f_lin trained step by step. Dotted: the closed form from the empirical NTK at initialization (exact for discrete GD on f_lin).'],
  };
}
