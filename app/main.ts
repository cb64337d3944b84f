/**
 * The page: the settings form (mirrored in the URL), the training worker's messages, the live
 * views and the exports. Nothing heavy runs here: the worker trains, and the plots are redrawn one
 * per task (a newer result replaces a pending one), so no task blocks the page for long.
 */
import { drawChart, type Chart } from './chart.ts';
import type { AppReport, RunRequest, ToWorker, WorkerMessage } from './compute/messages.ts';
import type { NamedBytes } from './compute/datasets.ts';
import { DEFAULTS, checkSettings, formatSetting, parseSetting, queryFromSettings, settingsFromQuery, type AppSettings } from './compute/settings.ts';
import type { NtkView, StudyLive } from './compute/study.ts';
import { gpChart, lossChart, ntkChangeChart, ntkHeatmapChart, ntkSpectrumChart, outputsChart, rmseChart, sweepChart, weightsChart } from './plots.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const VIEWS = [
  { id: 'loss', title: 'Train and test loss', caption: 'Loss ½ mean (f − y)² of the network (solid), the linearized network trained step by step (dashed) and the closed form from the NTK at initialization (dotted); blue: train, red: test.' },
  { id: 'outputs', title: 'Test outputs', caption: 'f(x) on a few test points, one color each, the three styles as above.' },
  { id: 'weights', title: 'Two individual weights', caption: 'The first entry of the first and of the last weight matrix: the network, the linearized model, and the closed form θ₀ − J₀ᵀc_t.' },
  { id: 'rmse', title: 'RMSE(network, linearization)', caption: 'Root mean square difference of test outputs between the network and its linearization.' },
  { id: 'ntk', title: 'The empirical NTK Θ on the training set', caption: 'Θ at the latest checkpoint, rows and columns sorted by target (block-averaged to at most 64 × 64).' },
  { id: 'spectrum', title: 'NTK eigenvalue spectrum', caption: 'Eigenvalues of Θ₀ and of Θ at the latest checkpoint; gradient descent is stable while λ_max < 2/η.' },
  { id: 'ntkchange', title: 'Relative change of the NTK during training', caption: '‖Θ_t − Θ₀‖_F / ‖Θ₀‖_F of the network being trained: small for wide networks.' },
  { id: 'sweep', title: 'Width sweep', caption: 'Each width trains for the same steps; the gap to the linearization and the NTK change shrink with width (fitted log-log slopes; the paper: about −1 and −½ for FC networks).' },
  { id: 'gp', title: 'Infinite-width GP vs an ensemble of networks', caption: 'Figure 2 of the paper in 1-D: networks initialized independently and trained by gradient descent (red: mean ± 2 sd, grey: single networks) against the Gaussian process of infinitely wide networks (blue band); grey band: the prior at step 0. Fully connected, the chosen activation, on the synthetic regression.' },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

// ---- views and their redraw queue --------------------------------------------------------------

/** The latest chart of each view (redrawn on resize, exported as PNG). */
const charts = new Map<ViewId, Chart>();
/** Views waiting to be drawn; `counts`: a new result (not a redraw at a new size). */
const pending = new Map<ViewId, { build: () => Chart; counts: boolean }>();
let drawing = false;

function buildViews(): void {
  const root = $('views');
  for (const v of VIEWS) {
    const fig = document.createElement('figure');
    fig.className = 'view';
    fig.id = `view-${v.id}`;
    fig.dataset.updates = '0';
    fig.innerHTML = `<header><h2 id="title-${v.id}"></h2><button type="button" class="png">Export PNG</button></header>
<canvas class="plot" id="plot-${v.id}" role="img" aria-labelledby="title-${v.id}" aria-describedby="caption-${v.id}"></canvas>
<figcaption id="caption-${v.id}"></figcaption>`;
    fig.querySelector('h2')!.textContent = v.title;
    fig.querySelector('figcaption')!.textContent = `${v.caption} Not run yet.`;
    const button = fig.querySelector('button')!;
    button.setAttribute('aria-label', `Export “${v.title}” as PNG`);
    button.addEventListener('click', () => exportPng(v.id, v.title));
    root.append(fig);
  }
  // Empty axes now: a canvas's first drawing (creating its context) is the slow one, so it happens
  // at load, and training only redraws.
  for (const v of VIEWS) {
    const canvas = $<HTMLCanvasElement>(`plot-${v.id}`);
    const [w, h] = [canvas.clientWidth || 500, canvas.clientHeight || 330];
    if (v.id === 'ntk') drawChart(canvas, { kind: 'heatmap', size: 1, values: [0], cuts: [], xLabel: '', colorLabel: '' }, w, h);
    drawChart(canvas, { kind: 'lines', x: { label: '' }, y: { label: '' }, series: [] }, w, h);
  }
  // Redraw at the new size when the layout changes (window resize, narrow screens).
  new ResizeObserver(() => {
    // A view with a new result waiting is drawn at the new size anyway.
    for (const [id, chart] of charts) if (!pending.has(id)) schedule(id, () => chart, false);
  }).observe(root);
}

/** Queues a redraw of one view; a newer chart replaces one still waiting. */
function schedule(id: ViewId, build: () => Chart, counts = true): void {
  pending.set(id, { build, counts });
  if (!drawing) {
    drawing = true;
    setTimeout(drawNext, 0);
  }
}

/** Draws one pending view per task, so the page handles input between views. */
function drawNext(): void {
  const next = pending.entries().next();
  if (next.done) {
    drawing = false;
    document.body.dataset.drawing = 'false';
    return;
  }
  document.body.dataset.drawing = 'true';
  const [id, { build, counts }] = next.value;
  pending.delete(id);
  const chart = build();
  const canvas = $<HTMLCanvasElement>(`plot-${id}`);
  drawChart(canvas, chart, canvas.clientWidth || 500, canvas.clientHeight || 330);
  charts.set(id, chart);
  if (counts) {
    const el = $(`view-${id}`);
    el.dataset.updates = String(Number(el.dataset.updates) + 1);
    el.querySelector('figcaption')!.textContent = VIEWS.find((v) => v.id === id)!.caption;
  }
  setTimeout(drawNext, 0);
}

function download(name: string, href: string): void {
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

/** The view redrawn off screen at 1000 x 560 with its title, saved as PNG. */
function exportPng(id: ViewId, title: string): void {
  const chart = charts.get(id);
  if (!chart) {
    showError(`“${title}” has nothing to export yet: run the study first.`);
    return;
  }
  const canvas = document.createElement('canvas');
  drawChart(canvas, chart, 1000, 560, title);
  canvas.toBlob((blob) => {
    if (!blob) return showError(`Could not encode “${title}” as PNG.`);
    const url = URL.createObjectURL(blob);
    download(`${id}.png`, url);
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }, 'image/png');
}

// ---- the settings form and the URL ---------------------------------------------------------------

const form = $<HTMLFormElement>('controls');
const FIELDS = Object.keys(DEFAULTS) as (keyof AppSettings)[];
const field = (name: keyof AppSettings) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;

function showError(message: string | null): void {
  const box = $('form-error');
  box.hidden = message === null;
  box.textContent = message ?? '';
}

function writeForm(s: AppSettings): void {
  for (const name of FIELDS) field(name).value = formatSetting(name, s[name]);
  syncVisibility();
}

/** The form's settings, or null with every problem shown and the fields marked. */
function readForm(): AppSettings | null {
  const out = { ...DEFAULTS } as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of FIELDS) {
    const el = field(name);
    try {
      out[name] = parseSetting(name, el.value.trim());
      el.removeAttribute('aria-invalid');
    } catch (e) {
      el.setAttribute('aria-invalid', 'true');
      problems.push((e as Error).message);
    }
  }
  if (problems.length === 0) {
    try {
      return checkSettings(out as unknown as AppSettings);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  showError(problems.join('\n'));
  return null;
}

function syncVisibility(): void {
  const data = field('data').value;
  $('digits-row').hidden = data !== 'mnist';
  $('cifar-row').hidden = data !== 'cifar2';
}

function onFormChange(): void {
  syncVisibility();
  const s = readForm();
  if (s) {
    showError(null);
    history.replaceState(null, '', `${location.pathname}${queryFromSettings(s)}`);
  }
}

// ---- the worker ----------------------------------------------------------------------------------

let worker: Worker;
let report: AppReport | null = null;
let lastLr: number | null = null;

function startWorker(): void {
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<WorkerMessage>) => onMessage(e.data);
  worker.onerror = (e) => {
    finish(`The worker failed: ${e.message || 'unknown error'}`);
  };
}

function setRunning(running: boolean): void {
  $<HTMLButtonElement>('run').disabled = running;
  $<HTMLButtonElement>('stop').disabled = !running;
  document.body.dataset.state = running ? 'running' : report ? 'done' : 'idle';
}

function finish(error: string | null): void {
  setRunning(false);
  if (error) {
    showError(error);
    $('phase').textContent = 'Stopped by an error';
    document.body.dataset.state = 'error';
  }
}

function onMessage(m: WorkerMessage): void {
  switch (m.kind) {
    case 'backend':
      $('backend').textContent = `Backend: ${m.name === 'webgpu' ? 'WebGPU' : 'CPU'}, because ${m.reason}.`;
      document.body.dataset.backend = m.name;
      break;
    case 'data':
      $('phase').textContent = m.description;
      break;
    case 'progress':
      $('phase').textContent = `${m.phase}: ${m.done} / ${m.total}`;
      $<HTMLProgressElement>('progress').value = m.total > 0 ? m.done / m.total : 0;
      break;
    case 'study':
      onStudy(m.live);
      break;
    case 'ntk':
      onNtk(m.view);
      break;
    case 'sweep':
      schedule('sweep', () => sweepChart(m.result));
      break;
    case 'gp':
      schedule('gp', () => gpChart(m.view));
      break;
    case 'done':
      report = m.report;
      $<HTMLButtonElement>('export-json').disabled = false;
      $('phase').textContent = `Done in ${m.report.seconds.total.toFixed(1)} s (study)`;
      $<HTMLProgressElement>('progress').value = 1;
      showSummary(m.report);
      finish(null);
      break;
    case 'error':
      finish(m.message);
      break;
  }
}

/** 1234567 -> "1,234,567" (toLocaleString would load the locale data, tens of ms, on the page's thread). */
function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function onStudy(live: StudyLive): void {
  lastLr = live.lr;
  $('threshold').textContent = `η = ${live.lr.toPrecision(4)}; stable below 2/λ_max = ${live.maxStableLearningRate.toPrecision(4)} (λ_max = ${live.lambdaMax.toPrecision(4)}, ${groupThousands(live.parameterCount)} parameters).`;
  schedule('loss', () => lossChart(live));
  schedule('outputs', () => outputsChart(live));
  schedule('weights', () => weightsChart(live));
  schedule('rmse', () => rmseChart(live));
}

function onNtk(view: NtkView): void {
  schedule('ntk', () => ntkHeatmapChart(view));
  schedule('spectrum', () => ntkSpectrumChart(view, lastLr));
  schedule('ntkchange', () => ntkChangeChart(view));
}

function showSummary(r: AppReport): void {
  const last = r.trainLoss.steps.length - 1;
  const three = (s: { network: number[]; linearized: number[]; closedForm: number[] }) => [s.network[last], s.linearized[last], s.closedForm[last]].map((v) => v.toExponential(3)).join(' / ');
  const rows: [string, string][] = [
    ['network', r.options.network],
    ['data', r.options.data],
    ['backend', `${r.backend}: ${r.backendReason}`],
    ['learning rate', `${r.lr.toPrecision(4)} (stable threshold 2/λ_max = ${r.maxStableLearningRate.toPrecision(4)}), ${r.options.steps} steps, loss ${r.options.loss}`],
    ['final train loss: network / linearized / closed form', three(r.trainLoss)],
    ['final test loss: network / linearized / closed form', three(r.testLoss)],
    ['RMSE(network, linearized), test, final', r.rmseNetworkVsLinearized.stepByStep[last].toExponential(3)],
    ['relative NTK change', r.relativeNtkChange.toExponential(3)],
  ];
  if (r.widthSweep) rows.push(['width sweep: slopes of the gap / of the NTK change', `${r.widthSweep.rmseSlope?.toFixed(2) ?? '—'} / ${r.widthSweep.ntkChangeSlope?.toFixed(2) ?? '—'}`]);
  if (r.gp) rows.push(['GP view: max |ensemble − GP| of mean / sd', `${r.gp.maxMeanDiff.toFixed(3)} / ${r.gp.maxSdDiff.toFixed(3)} (${r.gp.ensemble.count} networks)`]);
  const table = document.createElement('table');
  const caption = table.createCaption();
  caption.textContent = 'Summary of the run';
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = k;
    tr.append(th);
    tr.insertCell().textContent = v;
  }
  $('summary').replaceChildren(table);
}

async function cifarFiles(): Promise<NamedBytes[]> {
  const input = $<HTMLInputElement>('cifar');
  return Promise.all(Array.from(input.files ?? []).map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
}

async function run(): Promise<void> {
  const settings = readForm();
  if (!settings) return;
  showError(null);
  report = null;
  $<HTMLButtonElement>('export-json').disabled = true;
  $('summary').replaceChildren();
  setRunning(true);
  // When this run began, on the page's clock (tests read the long tasks after it).
  document.body.dataset.runStartedAt = String(performance.mark('tangentgrad-run-start').startTime);
  $('phase').textContent = 'Starting…';
  try {
    const cifar = settings.data === 'cifar2' ? await cifarFiles() : [];
    const request: RunRequest = {
      kind: 'run', settings, cifar, mnistUrl: new URL('mnist-subset.bin.gz', document.baseURI).href,
      sweep: $<HTMLInputElement>('runSweep').checked, gp: $<HTMLInputElement>('runGp').checked,
    };
    worker.postMessage(request, cifar.map((f) => f.bytes.buffer as ArrayBuffer));
  } catch (e) {
    finish(`Could not read the chosen files: ${(e as Error).message}`);
  }
}

function stop(): void {
  worker.terminate();
  startWorker();
  $('phase').textContent = 'Stopped';
  setRunning(false);
}

function exportJson(): void {
  if (!report) return;
  const url = URL.createObjectURL(new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' }));
  download('report.json', url);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function copyLink(): Promise<void> {
  try {
    await navigator.clipboard.writeText(location.href);
    $('phase').textContent = 'Link copied';
  } catch {
    // No clipboard permission (or no secure context): show the link to copy by hand.
    window.prompt('Copy this link:', location.href);
  }
}

function init(): void {
  for (const id of ['digitA', 'digitB']) {
    const select = $<HTMLSelectElement>(id);
    for (let d = 0; d < 10; d++) select.add(new Option(String(d), String(d)));
  }
  let initial = DEFAULTS;
  try {
    initial = settingsFromQuery(location.search);
  } catch (e) {
    showError(`The link's settings were not used: ${(e as Error).message}`);
  }
  writeForm(initial);
  buildViews();
  form.addEventListener('change', onFormChange);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void run();
  });
  $('stop').addEventListener('click', stop);
  $('export-json').addEventListener('click', exportJson);
  $('copy-link').addEventListener('click', () => void copyLink());
  startWorker();
  // Say which backend a run will use before the first run.
  worker.postMessage({ kind: 'probe', backend: initial.backend } satisfies ToWorker);
  setRunning(false);
  document.body.dataset.ready = 'true';
}

init();
