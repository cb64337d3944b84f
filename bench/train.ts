/**
 * Suite `train`: one full-batch training step (forward, MSE loss, backward, SGD update), float32.
 *
 *  (a) train_mlp: ReLU MLP 784 -> 512 x3 -> 1, batch 256 (927,745 parameters).
 *  (b) train_cnn: a small CNN on CIFAR shapes, batch 32, NHWC input 32x32x3:
 *        Conv(64, 3x3, SAME, stride 2) ReLU -> 16x16x64
 *        Conv(64, 3x3, SAME, stride 2) ReLU ->  8x8x64
 *        Conv(64, 3x3, SAME, stride 2) ReLU ->  4x4x64
 *        GlobalAvgPool -> 64, Dense -> 1 (75,649 parameters), 0.62 GFLOP per step.
 *      Why stride 2 everywhere: with a stride-1 first layer (32x32x64 activations) a step is
 *      2.5 GFLOP, and the two slow peers need minutes for it on 2 shared cores (measured:
 *      tfjs-backend-cpu 270 s, whose conv backward kernels are plain loops; jax-js on Wasm 215 s,
 *      its conv runs at ~10 MFLOP/s). Stride 2 on all three layers keeps batch 32 and the
 *      64-channel 3x3 layers; it has the same FLOPs per layer as batch 8 with strides 1, 2, 2.
 *
 * Ours: the model from models/ (serial, Dense, Conv, Relu, GlobalAvgPool) in the 'standard'
 * parameterization (plain W, b: the same math as the peers' hand-written models), loss
 * mseLoss('mean'), optimizer gradientDescent; one step is
 *   tg.tidy(() => { [loss, g] = valueAndGrad(loss of apply)(params); params' = update(params, g) }).
 * Peers, the same model written with their ops, from the same initial weights (copied from ours)
 * and the same data:
 *   CPU:    tfjs-backend-cpu, tfjs-backend-wasm (XNNPACK, one thread in Node; no
 *           Conv2DBackpropFilter kernel, so its CNN step fails: reported as such), @jax-js/jax
 *           with jit on Wasm (one thread; its conv is NCHW/OIHW only, so its CNN gets the input
 *           and kernels transposed once, outside the timing, and its results transposed back).
 *   WebGPU: @tensorflow/tfjs-backend-webgpu on the same Dawn adapter as ours (--backend webgpu).
 * Every timed call (ours and peers) is one step from the initial weights that hands back the loss
 * and every updated parameter (read to host memory, so queued GPU work counts) and frees them.
 * All implementations of a case that passed their check are timed round-robin (the harness's
 * measureInterleaved), so ours and the peers share the load drift of the shared machine. Those
 * that compile in their first call (ours, jax-js jit, tfjs-webgpu's shaders) always get a warm-up
 * run; tfjs-cpu's CNN step (about a minute) is timed on its checked run plus one more at most.
 * `--only mlp` / `--only cnn` runs one case.
 *
 * Checks: a float64 step by our engine on the CPU is the reference. Each implementation's first
 * step must match it to TOL (1e-3, relative to the largest reference magnitude): the loss, every
 * updated parameter tensor, and every parameter update (new - initial; the learning rates make
 * the updates 1-10% of the weights, so a wrong gradient cannot hide under a small step). A peer
 * that fails is excluded (its time is not reported); ours failing is a failure of the suite.
 * Since the reference comes from our own engine, peers that disagree with it but agree with each
 * other make the suite fail too (the reference would be the suspect).
 */
import * as tg from '../engine/index.ts';
import type { Backend, Tensor } from '../engine/index.ts';
import { Conv, Dense, GlobalAvgPool, Relu, gradientDescent, mseLoss, serial, type AnyLayer, type Params } from '../models/index.ts';
import { log, measureDefaults, measureInterleaved, randn, selected, type BenchOptions, type Contender, type MeasureOptions, type PeerResult, type Report, type Suite } from './harness.ts';
import { oursBackend, oursCall } from './ours.ts';
import { loadJax } from './peers/jax.ts';
import { useTfjs, type Tf } from './peers/tfjs.ts';
import { installNodeGpu, useTfjsWebgpu } from './peers/tfjs-webgpu.ts';

const TOL = 1e-3;

/**
 * Measurement for implementations that compile in their first call (jax-js jit, WebGPU shader
 * pipelines, and ours everywhere): a slow first call never stands in for warm-up, and one warm-up
 * run after the checked first call is enough.
 */
const COMPILED: Partial<MeasureOptions> = { warmup: 1, slowMs: Infinity };

type TfTensor = import('@tensorflow/tfjs').Tensor;
type JaxArray = import('@jax-js/jax').Array;

/** The architecture, as the peers need it (their models are written out by hand). */
type Arch =
  | { kind: 'mlp'; dims: number[] }
  | { kind: 'cnn'; channels: number; strides: number[]; hw: number; inChannels: number };

interface TrainCase {
  name: string;
  size: string;
  arch: Arch;
  net: AnyLayer;
  /** Input shape with the batch. */
  xShape: number[];
  yShape: number[];
  learningRate: number;
  gflop: number;
  /** Measurement overrides per peer (tfjs-cpu's CNN step takes tens of seconds). */
  peerMeasure?: (peer: string, quick: boolean) => Partial<MeasureOptions>;
}

/** What one step hands back: the loss and the updated parameters, in the leaf order of ours. */
interface StepResult {
  loss: number;
  params: ArrayLike<number>[];
}

/** Shared inputs of a case: initial weights (ours, leaf order), data. */
interface CaseData {
  shapes: number[][];
  init: Float32Array[];
  x: Float32Array;
  y: Float32Array;
}

// ------------------------------------------------------------------ the cases

const STANDARD = { parameterization: 'standard' as const, b_std: 0.1 };

function mlpCase(): TrainCase {
  const batch = 256;
  const dims = [784, 512, 512, 512, 1];
  const layers: AnyLayer[] = [];
  dims.slice(1).forEach((d, i) => {
    const last = i === dims.length - 2;
    layers.push(Dense(d, { ...STANDARD, W_std: last ? 1 : Math.SQRT2 }));
    if (!last) layers.push(Relu());
  });
  // forward 2 B sum(in*out); backward: dW for every layer, dx for all but the first.
  const fwd = dims.slice(1).map((d, i) => 2 * batch * dims[i] * d);
  const total = fwd.reduce((a, b) => a + b, 0);
  return {
    name: 'train_mlp',
    size: `B=${batch},${dims[0]}-${dims.slice(1, -1).join('-')}-${dims[dims.length - 1]}`,
    arch: { kind: 'mlp', dims },
    net: serial(...layers),
    xShape: [batch, dims[0]],
    yShape: [batch, 1],
    learningRate: 0.2,
    gflop: (3 * total - fwd[0]) / 1e9,
  };
}

function cnnCase(): TrainCase {
  const batch = 32, hw = 32, inChannels = 3, channels = 64;
  const strides = [2, 2, 2];
  const layers: AnyLayer[] = [];
  const fwd: number[] = [];
  let size = hw, cin = inChannels;
  for (const s of strides) {
    layers.push(Conv(channels, [3, 3], { ...STANDARD, W_std: Math.SQRT2, strides: s, padding: 'SAME' }), Relu());
    size = Math.ceil(size / s);
    fwd.push(2 * batch * size * size * channels * 9 * cin);
    cin = channels;
  }
  layers.push(GlobalAvgPool(), Dense(1, { ...STANDARD, W_std: 1 }));
  fwd.push(2 * batch * channels);
  const total = fwd.reduce((a, b) => a + b, 0);
  return {
    name: 'train_cnn',
    size: `B=${batch},${hw}x${hw}x${inChannels},conv${channels}x3x3(s${strides.join(',')})-gap-1`,
    arch: { kind: 'cnn', channels, strides, hw, inChannels },
    net: serial(...layers),
    xShape: [batch, hw, hw, inChannels],
    yShape: [batch, 1],
    learningRate: 0.5,
    gflop: (3 * total - fwd[0]) / 1e9,
    // tfjs-cpu's conv backward is plain loops: the checked run counts, one more at most.
    peerMeasure: (peer, quick) => (peer === 'tfjs-cpu' ? { slowMs: 1_000, repeats: quick ? 1 : 2, budgetMs: 30_000 } : {}),
  };
}

/** Initial weights from our init (seeded), and the data. */
function caseData(c: TrainCase, seed: number): CaseData {
  tg.useBackend('cpu');
  const { params } = c.net.init(tg.key(seed), c.xShape, 'float32');
  const leaves = tg.treeLeaves(params);
  const data = { shapes: leaves.map((t) => [...t.shape]), init: leaves.map((t) => Float32Array.from(t.dataSync() as Float32Array)) };
  tg.dispose(params);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return { ...data, x: randn(size(c.xShape), seed + 1), y: randn(size(c.yShape), seed + 2) };
}

// ------------------------------------------------------------------ ours

/** Our step on the tensors given (params in the tree structure of net.init). */
function oursStep(c: TrainCase, params: Params, x: Tensor, y: Tensor): () => Tensor[] {
  const loss = mseLoss('mean');
  const opt = gradientDescent(c.learningRate);
  const lossOf = (p: Params) => loss(c.net.apply(p, x) as Tensor, y);
  return () => {
    const [l, g] = tg.valueAndGrad(lossOf)(params);
    const next = opt.update(params, g, null).params;
    return [l as Tensor, ...tg.treeLeaves(next)];
  };
}

/** Our parameters as the tree init returns, with the given leaves (kept across tidy scopes). */
function oursParams(c: TrainCase, leaves: Tensor[]): Params {
  tg.useBackend('cpu');
  const shapeOnly = c.net.init(tg.key(0), c.xShape, 'float32').params;
  const flat = tg.flatten(shapeOnly);
  tg.dispose(shapeOnly);
  return flat.unflatten(leaves) as Params;
}

/** The reference: one float64 step by our engine on the CPU. */
function reference(c: TrainCase, d: CaseData): StepResult {
  const cpu = tg.useBackend('cpu');
  const leaves = d.init.map((a, i) => tg.keep(tg.tensor(Float64Array.from(a), d.shapes[i], 'float64', cpu)));
  const x = tg.keep(tg.tensor(Float64Array.from(d.x), c.xShape, 'float64', cpu));
  const y = tg.keep(tg.tensor(Float64Array.from(d.y), c.yShape, 'float64', cpu));
  try {
    const outs = tg.tidy(() => oursStep(c, oursParams(c, leaves), x, y)());
    const values = outs.map((o) => Float64Array.from(o.dataSync() as Float64Array));
    tg.dispose(outs);
    return { loss: values[0][0], params: values.slice(1) };
  } finally {
    tg.dispose([leaves, x, y]);
  }
}

// ------------------------------------------------------------------ checks

interface Verdict {
  ok: boolean;
  /** The worst relative error and where it was. */
  relErr: number;
  where: string;
}

/**
 * got vs ref: the loss (relative), each updated parameter tensor and each update (new - init),
 * each relative to the largest magnitude in the reference tensor.
 */
function check(got: StepResult, ref: StepResult, init: Float32Array[]): Verdict {
  let relErr = Math.abs(got.loss - ref.loss) / Math.max(Math.abs(ref.loss), 1e-30);
  if (Number.isNaN(relErr)) relErr = Infinity;
  let where = 'loss';
  const worse = (e: number, w: string) => {
    if (!(e <= relErr)) {
      relErr = Number.isNaN(e) ? Infinity : e;
      where = w;
    }
  };
  if (got.params.length !== ref.params.length) return { ok: false, relErr: Infinity, where: `${got.params.length} parameters, expected ${ref.params.length}` };
  ref.params.forEach((r, i) => {
    const g = got.params[i];
    if (g.length !== r.length) {
      worse(Infinity, `parameter ${i}: ${g.length} values, expected ${r.length}`);
      return;
    }
    let scale = 0, err = 0, dScale = 0, dErr = 0;
    for (let k = 0; k < r.length; k++) {
      const d = Math.abs(g[k] - r[k]);
      err = d > err || Number.isNaN(d) ? (Number.isNaN(d) ? Infinity : d) : err;
      scale = Math.max(scale, Math.abs(r[k]));
      // The update: both sides minus the same float32 initial value.
      const dr = r[k] - init[i][k];
      dScale = Math.max(dScale, Math.abs(dr));
      const dd = Math.abs(g[k] - init[i][k] - dr);
      dErr = dd > dErr || Number.isNaN(dd) ? (Number.isNaN(dd) ? Infinity : dd) : dErr;
    }
    worse(err / (scale || 1), `parameter ${i} [${r.length}]`);
    worse(dErr / (dScale || 1), `update of parameter ${i} [${r.length}]`);
  });
  return { ok: relErr <= TOL, relErr, where };
}

/** Per leaf, the largest update relative to the largest weight: logged to show the step is not negligible. */
function updateSizes(ref: StepResult, init: Float32Array[]): number[] {
  return ref.params.map((r, i) => {
    let d = 0, w = 0;
    for (let k = 0; k < r.length; k++) {
      d = Math.max(d, Math.abs(r[k] - init[i][k]));
      w = Math.max(w, Math.abs(init[i][k]));
    }
    return d / (w || 1);
  });
}

// ------------------------------------------------------------------ peers: tfjs (cpu, wasm, webgpu)

function tfLoss(tf: Tf, arch: Arch, p: TfTensor[], x: TfTensor, y: TfTensor): TfTensor {
  type T2 = import('@tensorflow/tfjs').Tensor2D;
  type T4 = import('@tensorflow/tfjs').Tensor4D;
  let h = x;
  if (arch.kind === 'mlp') {
    const L = arch.dims.length - 1;
    for (let i = 0; i < L; i++) {
      const pre = tf.add(tf.matMul(h as T2, p[2 * i] as T2), p[2 * i + 1]);
      h = i < L - 1 ? tf.relu(pre) : pre;
    }
  } else {
    arch.strides.forEach((s, i) => {
      h = tf.relu(tf.add(tf.conv2d(h as T4, p[2 * i] as T4, s, 'same'), p[2 * i + 1]));
    });
    const k = arch.strides.length;
    h = tf.add(tf.matMul(tf.mean(h, [1, 2]) as T2, p[2 * k] as T2), p[2 * k + 1]);
  }
  return tf.mean(tf.square(tf.sub(h, y)));
}

/** A tfjs step as a timed call: tensors in, [loss, ...new params] read back and freed. */
function tfjsCall(tf: Tf, c: TrainCase, d: CaseData): Made {
  const params = d.init.map((a, i) => tf.tensor(a, d.shapes[i], 'float32'));
  const x = tf.tensor(d.x, c.xShape, 'float32');
  const y = tf.tensor(d.y, c.yShape, 'float32');
  const lr = c.learningRate;
  const call = async (): Promise<StepResult> => {
    const outs = tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...p: TfTensor[]) => tfLoss(tf, c.arch, p, x, y))(params);
      return [value, ...params.map((p, i) => tf.sub(p, tf.mul(grads[i], lr)))];
    });
    try {
      const values = (await Promise.all(outs.map((o) => o.data()))) as Float32Array[];
      return { loss: values[0][0], params: values.slice(1) };
    } finally {
      tf.dispose(outs);
    }
  };
  return { call, dispose: () => tf.dispose([...params, x, y]) };
}

// ------------------------------------------------------------------ peer: jax-js (jit, Wasm)

/** Permutes a dense row-major array: out axis j is input axis perm[j]. */
function permute(a: ArrayLike<number>, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((s, v) => s * v, 1));
  const out = new Float32Array(a.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let j = 0; j < perm.length; j++) src += idx[j] * inStrides[perm[j]];
    out[o] = a[src];
    for (let j = perm.length - 1; j >= 0; j--) {
      if (++idx[j] < outShape[j]) break;
      idx[j] = 0;
    }
  }
  return out;
}

const HWIO_TO_OIHW = [3, 2, 0, 1];
const OIHW_TO_HWIO = [2, 3, 1, 0];
const NHWC_TO_NCHW = [0, 3, 1, 2];

async function jaxCall(c: TrainCase, d: CaseData): Promise<Made> {
  const jax = await loadJax();
  const np = jax.numpy;
  const arch = c.arch;
  const lr = c.learningRate;
  // jax-js convolutions are NCHW / OIHW: convert the CNN's input and kernels once, here.
  const isKernel = (i: number) => arch.kind === 'cnn' && i < 2 * arch.strides.length && i % 2 === 0;
  const jaxShapes = d.shapes.map((s, i) => (isKernel(i) ? HWIO_TO_OIHW.map((p) => s[p]) : s));
  const params = d.init.map((a, i) => np.array(isKernel(i) ? permute(a, d.shapes[i], HWIO_TO_OIHW) : a, { shape: jaxShapes[i] }));
  const xShape = arch.kind === 'cnn' ? NHWC_TO_NCHW.map((p) => c.xShape[p]) : c.xShape;
  const x = np.array(arch.kind === 'cnn' ? permute(d.x, c.xShape, NHWC_TO_NCHW) : d.x, { shape: xShape });
  const y = np.array(d.y, { shape: c.yShape });

  // Move semantics: every op consumes its inputs, each parameter is used exactly once here.
  const lossFn = (p: JaxArray[], xs: JaxArray, ys: JaxArray): JaxArray => {
    let h = xs;
    if (arch.kind === 'mlp') {
      const L = arch.dims.length - 1;
      for (let i = 0; i < L; i++) {
        const pre = np.matmul(h, p[2 * i]).add(p[2 * i + 1]);
        h = i < L - 1 ? np.maximum(pre, 0) : pre;
      }
    } else {
      arch.strides.forEach((s, i) => {
        const conv = jax.lax.conv(h, p[2 * i], [s, s], 'SAME');
        h = np.maximum(conv.add(p[2 * i + 1].reshape([1, arch.channels, 1, 1])), 0);
      });
      const k = arch.strides.length;
      h = np.matmul(np.mean(h, [2, 3]), p[2 * k]).add(p[2 * k + 1]);
    }
    return np.mean(np.square(h.sub(ys)));
  };
  const step = jax.jit((p: JaxArray[], xs: JaxArray, ys: JaxArray): JaxArray[] => {
    const [loss, g] = jax.valueAndGrad(lossFn)(jax.tree.ref(p), xs, ys) as [JaxArray, JaxArray[]];
    return [loss, ...p.map((pi, i) => pi.sub(g[i].mul(lr)))];
  });
  const call = async (): Promise<StepResult> => {
    const outs = step(jax.tree.ref(params), x.ref, y.ref);
    const values = (await Promise.all(outs.map((o) => o.data()))) as Float32Array[];
    return {
      loss: values[0][0],
      params: values.slice(1).map((v, i) => (isKernel(i) ? permute(v, jaxShapes[i], OIHW_TO_HWIO) : v)),
    };
  };
  return { call, dispose: () => [...params, x, y].forEach((a) => a.dispose()) };
}

// ------------------------------------------------------------------ running

/** A timed call of one implementation and how to free what it holds. */
interface Made {
  call: () => Promise<StepResult>;
  dispose: () => void;
}

/** A checked, ready-to-time implementation, or the reason it is not timed (null time in the rows). */
type Prepared = { contender: Contender; verdict: Verdict; dispose: () => void } | { skip: string };

/**
 * Makes an implementation, runs its first call and checks it; `firsts` keeps the first results
 * (for the cross-check). Failures are logged, the implementation is freed and skipped.
 */
async function prepare(
  name: string, c: TrainCase, d: CaseData, ref: StepResult, m: MeasureOptions, firsts: Map<string, StepResult>,
  make: () => Made | Promise<Made>,
): Promise<Prepared> {
  let made: Made | undefined;
  try {
    made = await make();
    const t0 = performance.now();
    const got = await made.call();
    const firstMs = performance.now() - t0;
    firsts.set(name, got);
    const verdict = check(got, ref, d.init);
    if (!verdict.ok) {
      log(`${c.name} ${c.size}: ${name}: WRONG ANSWER (max rel err ${verdict.relErr.toExponential(2)} > ${TOL} in ${verdict.where}); its time is excluded`);
      made.dispose();
      return { skip: `wrong answer (rel err ${verdict.relErr.toExponential(1)} in ${verdict.where})` };
    }
    return { contender: { name, call: made.call, firstMs, m }, verdict, dispose: made.dispose };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    log(`${c.name} ${c.size}: ${name}: failed: ${msg}`);
    try {
      made?.dispose();
    } catch {
      // a failed implementation may have freed its tensors already
    }
    return { skip: `failed: ${msg.length > 60 ? msg.slice(0, 57) + '...' : msg}` };
  }
}

/** Our step on `backend` from the shared data; every call first makes `name` the default backend (calls interleave). */
function makeOurs(name: string, backend: Backend, c: TrainCase, d: CaseData): Made {
  const leaves = d.init.map((a, i) => tg.keep(tg.tensor(a, d.shapes[i], 'float32', backend)));
  const x = tg.keep(tg.tensor(d.x, c.xShape, 'float32', backend));
  const y = tg.keep(tg.tensor(d.y, c.yShape, 'float32', backend));
  const params = oursParams(c, leaves);
  const read = oursCall(oursStep(c, params, x, y));
  const call = async (): Promise<StepResult> => {
    tg.useBackend(name as tg.BackendName);
    const [loss, ...ps] = await read();
    return { loss: loss[0], params: ps };
  };
  return { call, dispose: () => tg.dispose([leaves, x, y]) };
}

/** tfjs has one global backend: a tfjs peer's calls switch to theirs first (calls interleave). */
async function makeTfjs(which: 'tfjs-cpu' | 'tfjs-wasm' | 'tfjs-webgpu', c: TrainCase, d: CaseData): Promise<Made> {
  const use = () => (which === 'tfjs-webgpu' ? useTfjsWebgpu() : useTfjs(which));
  const made = tfjsCall(await use(), c, d);
  return {
    call: async () => {
      await use();
      return made.call();
    },
    dispose: made.dispose,
  };
}

/**
 * The reference is our own engine (in float64): when it is wrong, ours agrees with it and every
 * independent peer disagrees. Peers that disagree with the reference but agree with one another
 * point at that.
 */
function crossCheck(c: TrainCase, d: CaseData, firsts: Map<string, StepResult>, failed: string[], report: Report): void {
  for (let i = 0; i < failed.length; i++) {
    for (let j = i + 1; j < failed.length; j++) {
      const a = firsts.get(failed[i]), b = firsts.get(failed[j]);
      if (!a || !b) continue;
      const v = check(a, b, d.init);
      if (v.ok) {
        report.fail(`${c.name} ${c.size}: ${failed[i]} and ${failed[j]} disagree with our float64 reference but agree with each other (rel err ${v.relErr.toExponential(1)}): our engine is the suspect`);
        return;
      }
    }
  }
}

const CPU_PEERS = ['tfjs-cpu', 'tfjs-wasm', 'jax-js-wasm'] as const;
const GPU_PEERS = ['tfjs-webgpu'] as const;

async function runCase(c: TrainCase, seed: number, opts: BenchOptions, report: Report): Promise<void> {
  log(`${c.name} ${c.size} (${c.gflop.toFixed(2)} GFLOP per step)`);
  const d = caseData(c, seed);
  const t0 = performance.now();
  const ref = reference(c, d);
  log(`  reference (ours, float64, cpu): loss ${ref.loss.toPrecision(6)}, update/weights per parameter ${updateSizes(ref, d.init).map((u) => u.toExponential(0)).join(' ')} (${(performance.now() - t0).toFixed(0)} ms)`);
  const firsts = new Map<string, StepResult>();

  const ours = new Map<string, Prepared>();
  for (const name of opts.backends) {
    const backend = await oursBackend(name);
    if (backend === null) continue;
    tg.useBackend(name as tg.BackendName);
    const p = await prepare(`ours/${name}`, c, d, ref, measureDefaults(opts, COMPILED), firsts, () => makeOurs(name, backend, c, d));
    if ('skip' in p) report.fail(`${c.name} ${c.size} ours (${name}): ${p.skip}`);
    ours.set(name, p);
  }
  const peerMeasure = (name: string) =>
    measureDefaults(opts, { ...(name.startsWith('jax-js') || name.endsWith('webgpu') ? COMPILED : {}), ...c.peerMeasure?.(name, opts.quick) });
  const peers = new Map<string, Prepared>();
  if (ours.has('cpu')) {
    for (const which of ['tfjs-cpu', 'tfjs-wasm'] as const) peers.set(which, await prepare(which, c, d, ref, peerMeasure(which), firsts, () => makeTfjs(which, c, d)));
    peers.set('jax-js-wasm', await prepare('jax-js-wasm', c, d, ref, peerMeasure('jax-js-wasm'), firsts, () => jaxCall(c, d)));
  }
  if (ours.has('webgpu')) {
    peers.set('tfjs-webgpu', await prepare('tfjs-webgpu', c, d, ref, peerMeasure('tfjs-webgpu'), firsts, () => makeTfjs('tfjs-webgpu', c, d)));
  }
  crossCheck(c, d, firsts, [...peers].filter(([n, p]) => 'skip' in p && firsts.has(n)).map(([n]) => n), report);

  // Round-robin over everything that passed: ours and the peers under the same load drift.
  const all = [...ours.values(), ...peers.values()];
  const timings = await measureInterleaved(all.flatMap((p) => ('contender' in p ? [p.contender] : [])));
  for (const p of all) {
    if (!('contender' in p)) continue;
    p.dispose();
    const t = timings.get(p.contender.name)!;
    log(`  ${p.contender.name.padEnd(12)} ${t.median.toFixed(1)} ms (median of ${t.samples.length}; rel err ${p.verdict.relErr.toExponential(1)} in ${p.verdict.where})`);
  }
  const msOf = (p: Prepared | undefined) => (p !== undefined && 'contender' in p ? timings.get(p.contender.name)!.median : null);
  for (const [name, p] of ours) {
    const names: readonly string[] = name === 'webgpu' ? GPU_PEERS : name === 'cpu' ? CPU_PEERS : [];
    const rows: PeerResult[] = names.map((n) => {
      const q = peers.get(n);
      return q !== undefined && 'skip' in q ? [n, null, q.skip] : [n, msOf(q)];
    });
    if (rows.length > 0) report.add({ case: c.name, size: c.size, backend: name }, msOf(p), rows, { gflop: c.gflop });
    const mine = msOf(p);
    for (const [n, ms] of rows) if (mine !== null && ms !== null && ms !== undefined) log(`  ours/${name} vs ${n}: ${(ms / mine).toFixed(2)}x`);
  }
  tg.useBackend('cpu');
}

export const trainSuite: Suite = {
  name: 'train',
  description: 'one SGD training step (MSE): MLP 784-512x3-1 B=256 and a 3-conv CNN on 32x32x3 B=32, vs tfjs-cpu/wasm, jax-js-wasm; tfjs-webgpu with --backend webgpu',
  async run(opts, report) {
    const cases = [mlpCase(), cnnCase()].filter((c) => selected(opts, c.name));
    // Before our backend acquires its device: ours and tfjs-webgpu then share one Dawn instance.
    if (opts.backends.includes('webgpu') && cases.length > 0) {
      const fresh = tg.backendInstance('webgpu') === undefined;
      if (await installNodeGpu()) {
        log(fresh
          ? 'webgpu: ours and tfjs-webgpu share one Dawn instance (navigator.gpu), two devices on its adapter'
          : 'webgpu: our backend was initialized before this suite: it keeps its own Dawn instance, tfjs-webgpu gets another');
      }
    }
    for (const [i, c] of cases.entries()) await runCase(c, 100 * (i + 1), opts, report);
  },
};
