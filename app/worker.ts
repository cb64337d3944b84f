/**
 * The training worker: every computation of the app runs here, so the page stays responsive.
 * It picks the backend (WebGPU where the browser has an adapter, else the CPU, saying why), loads
 * the data, runs the study, then the width sweep and the GP view, posting results as they come.
 * The page stops a run by terminating the worker and starting a fresh one.
 */
import * as tg from '../engine/index.ts';
import { decodeMnistSubset } from './compute/mnist-subset.ts';
import { cifarPair, mnistPair, synthetic, type StudyData } from './compute/datasets.ts';
import { runGpView } from './compute/gp.ts';
import type { RunRequest, ToWorker, WorkerMessage } from './compute/messages.ts';
import { checkSettings, type AppSettings } from './compute/settings.ts';
import { runAppStudy } from './compute/study.ts';
import { runWidthSweep } from './compute/sweep.ts';
import type { MnistPool } from '../data/mnist.ts';

interface WorkerScope {
  postMessage(m: WorkerMessage): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;
const post = (m: WorkerMessage) => scope.postMessage(m);

function describeCpu(): string {
  const info = tg.cpuInfo();
  const kernels = info.wasm ? `Wasm SIMD kernels on ${info.threads} thread${info.threads > 1 ? 's' : ''}` : 'JavaScript kernels on one thread';
  // The library's notes are for logs; the page says the one that matters in a sentence.
  const cspRefusal = info.notes.some((n) => n.includes('wasm-unsafe-eval'));
  const why = info.wasm ? '' : cspRefusal
    ? " (this page's Content-Security-Policy refuses WebAssembly; 'wasm-unsafe-eval' would allow it)"
    : info.notes.length ? ` (${info.notes[0]})` : '';
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return `${kernels}${why}${isolated || !info.wasm ? '' : '; the page is not cross-origin isolated (no COOP/COEP headers), so no shared memory and one thread'}`;
}

/** The backend for this run and why, in words for the page. */
async function chooseBackend(pref: AppSettings['backend']): Promise<{ name: 'webgpu' | 'cpu'; reason: string }> {
  if (pref === 'cpu') {
    await tg.setBackend('cpu');
    return { name: 'cpu', reason: `CPU chosen in the settings; ${describeCpu()}` };
  }
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    if (pref === 'webgpu') throw new Error('WebGPU was requested, but this browser has no WebGPU (navigator.gpu is undefined); choose auto or CPU');
    await tg.setBackend('cpu');
    return { name: 'cpu', reason: `this browser has no WebGPU (navigator.gpu is undefined), so the CPU runs: ${describeCpu()}` };
  }
  try {
    const backend = await tg.setBackend('webgpu');
    const adapter = (backend as { adapterInfo?: string }).adapterInfo ?? 'unknown adapter';
    return { name: 'webgpu', reason: `a WebGPU adapter was found: ${adapter}` };
  } catch (e) {
    // The library's message ends with provisioning advice for Node machines; the page needs only the cause.
    const why = (e as Error).message.split('\n')[0].replace(/\s*On a GPU-less.*$/, '').replace(/\.$/, '');
    if (pref === 'webgpu') throw new Error(`WebGPU was requested, but no usable adapter: ${why}`);
    await tg.setBackend('cpu');
    return { name: 'cpu', reason: `no usable WebGPU adapter (${why}), so the CPU runs: ${describeCpu()}` };
  }
}

let mnistPool: Promise<MnistPool> | null = null;

async function fetchMnist(url: string): Promise<MnistPool> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`MNIST subset: GET ${url} answered ${response.status}`);
  // The file is gzip bytes served as-is (no Content-Encoding), so it is decompressed here.
  const bytes = new Uint8Array(await new Response(response.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  return decodeMnistSubset(bytes);
}

async function loadData(r: RunRequest): Promise<StudyData> {
  const s = r.settings;
  switch (s.data) {
    case 'mnist':
      mnistPool ??= fetchMnist(r.mnistUrl);
      mnistPool.catch(() => (mnistPool = null));
      return mnistPair(await mnistPool, s);
    case 'synth1d':
      return synthetic(1, s);
    case 'synth2d':
      return synthetic(2, s);
    case 'cifar2':
      if (r.cifar.length === 0) throw new Error('CIFAR-10: choose the binary files first (data_batch_*.bin and test_batch.bin, or cifar-10-binary.tar.gz)');
      return cifarPair(r.cifar, s);
  }
}

async function run(r: RunRequest): Promise<void> {
  const s = checkSettings(r.settings);
  const backend = await chooseBackend(s.backend);
  post({ kind: 'backend', ...backend });
  const data = await loadData(r);
  post({ kind: 'data', description: data.description });
  const progress = (phase: string, done: number, total: number) => post({ kind: 'progress', phase, done, total });
  const study = await runAppStudy(s, data, backend.name, backend.reason, {
    live: (live) => post({ kind: 'study', live }),
    ntk: (view) => post({ kind: 'ntk', view }),
    progress,
  });
  const widthSweep = r.sweep ? await runWidthSweep(s, data, (result) => post({ kind: 'sweep', result }), progress) : null;
  const gp = r.gp ? await runGpView(s, backend.name, (view) => post({ kind: 'gp', view }), progress) : null;
  post({ kind: 'done', report: { ...study, widthSweep, gp } });
}

scope.onmessage = (e) => {
  const task = e.data.kind === 'probe' ? chooseBackend(e.data.backend).then((b) => post({ kind: 'backend', ...b })) : run(e.data);
  task.catch((err: unknown) => post({ kind: 'error', message: err instanceof Error ? err.message : String(err) }));
};
