/**
 * The training loop: full-batch or minibatch (seeded shuffling) gradient steps with any
 * optimizer, progress through a callback, and flat memory.
 *
 * Memory: each step runs inside `tg.tidy`, which frees the forward/backward intermediates and
 * the batch; the loop then frees the previous params and optimizer state it created itself
 * (never the caller's initial params or state). So the live tensor count after `train` is the
 * count before plus the returned params and state.
 *
 * Minibatches are gathered with `tg.take` from seeded index lists (minibatchIndices).
 *
 * Reads: the only read of a value is `await loss.data()` at reporting steps (every `evalEvery`
 * steps and the last one), never a synchronous one, so the same loop runs on WebGPU, where each
 * read waits for the queued work.
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import type { Dataset } from '../data/split.ts';
import type { ApplyOptions, Params } from './layer.ts';
import type { Optimizer } from './optimizers.ts';

/** Inputs and targets with the examples along axis 0. */
export interface TrainData {
  x: Tensor;
  y: Tensor;
}

/**
 * Uploads a dataset from data/ (plain typed arrays) as tensors of `dtype` (default 'float32').
 * @example const { train: ds } = await loadMnist({ trainSize: 128, testSize: 0, flatten: true }); const data = datasetTensors(ds, 'float64');
 */
export function datasetTensors(ds: Dataset, dtype: DType = 'float32'): TrainData {
  const convert = (a: Float32Array) => (dtype === 'float64' ? Float64Array.from(a) : a);
  const x = tg.tensor(convert(ds.x), ds.xShape, dtype);
  return { x, y: tg.tensor(convert(ds.y), ds.yShape, dtype) };
}

export interface TrainProgress {
  /** Step index i (0-based); `loss` is L(theta_i) on the batch of step i, before its update. */
  step: number;
  steps: number;
  /** Epoch of the step's first example (always 0 for full batch). */
  epoch: number;
  loss: number;
}

/**
 * The network function. `train` passes `{ key }` as a third argument, a fresh key per step, so
 * stochastic layers (Dropout) draw new masks each step; functions of two arguments ignore it.
 */
/** foldIn index of the stochastic-layer key stream ('drop' in ASCII): far from the epoch numbers. */
const STOCHASTIC_STREAM = 0x64726f70;

export type ApplyFn = (params: Params, x: Tensor, opts?: ApplyOptions) => Tensor;
export type LossFn = (pred: Tensor, target: Tensor) => Tensor;

export interface TrainOptions<S> {
  /** The network function, e.g. `net.apply`. */
  apply: ApplyFn;
  /** Initial parameters; not modified nor disposed. */
  params: Params;
  /** e.g. mseLoss('sum/2') or crossEntropyLoss('mean'). */
  loss: LossFn;
  optimizer: Optimizer<S>;
  data: TrainData;
  /** Number of optimizer steps (>= 0). */
  steps: number;
  /** Minibatch size; default (or >= N): full batch. */
  batchSize?: number;
  /**
   * Key of the minibatch shuffling (default tg.key(0)); unused for full batch. Step s also passes
   * apply the key foldIn(foldIn(key, STOCHASTIC_STREAM), s) for its stochastic layers (Dropout).
   */
  key?: Key;
  /** Report every this many steps (default 1); the last step is always reported. */
  evalEvery?: number;
  /** Called (and awaited) at each reporting step. */
  onProgress?: (p: TrainProgress) => void | Promise<void>;
  /** Optimizer state to resume from (default optimizer.init(params)); not disposed. */
  optState?: S;
}

export interface TrainResult<S> {
  /** Final parameters theta_steps (the initial tree itself when steps = 0). */
  params: Params;
  /** Final optimizer state (pass back as optState to resume). */
  optState: S;
  /** The reported losses. */
  history: { step: number; loss: number }[];
}

/**
 * Example indices of minibatch `step` (sorted). The example stream is the concatenation of one
 * seeded permutation of 0..n-1 per epoch (epoch e uses tg.foldIn(key, e)), cut into consecutive
 * batches of exactly `batchSize` (a batch may straddle two epochs), so every example is seen
 * once per epoch and every batch has the same size, which keeps 'sum'-scaled losses comparable.
 * @example minibatchIndices(tg.key(0), 100, 32, 3) // 32 indices, deterministic
 */
export function minibatchIndices(key: Key, n: number, batchSize: number, step: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`minibatchIndices: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > n) throw new Error(`minibatchIndices: batchSize must be an integer in [1, ${n}], got ${batchSize}`);
  if (!Number.isInteger(step) || step < 0) throw new Error(`minibatchIndices: step must be a non-negative integer, got ${step}`);
  const start = step * batchSize;
  const out: number[] = [];
  let epoch = Math.floor(start / n);
  let offset = start - epoch * n;
  while (out.length < batchSize) {
    const perm = permutation(tg.foldIn(key, epoch), n);
    const take = Math.min(batchSize - out.length, n - offset);
    for (let i = 0; i < take; i++) out.push(perm[offset + i]);
    epoch += 1;
    offset = 0;
  }
  // Order within a batch does not change the (summed) gradient; sorted, the gather reads memory
  // in order.
  return out.sort((a, b) => a - b);
}

const permCache = new Map<string, Uint32Array>();

/** Fisher-Yates shuffle driven by Threefry words; cached per (key, n) since every batch of an epoch needs it. */
function permutation(key: Key, n: number): Uint32Array {
  const id = `${key.k0}:${key.k1}:${n}`;
  const hit = permCache.get(id);
  if (hit) return hit;
  const bits = tg.randomBits(key, n);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((bits[i] / 4294967296) * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  if (permCache.size > 8) permCache.clear();
  permCache.set(id, perm);
  return perm;
}

/**
 * The loss of `apply(params, x)` against `y` as a scalar tensor (intermediates freed).
 * @example const l = evaluateLoss(net.apply, params, mseLoss('sum/2'), test); console.log(await l.item());
 */
export function evaluateLoss(apply: ApplyFn, params: Params, loss: LossFn, data: TrainData): Tensor {
  return tg.tidy(() => loss(apply(params, data.x), data.y));
}

function checkOptions<S>(o: TrainOptions<S>): { n: number; batchSize: number; evalEvery: number } {
  if (o === null || typeof o !== 'object') throw new Error('train: options must be an object');
  const known = new Set(['apply', 'params', 'loss', 'optimizer', 'data', 'steps', 'batchSize', 'key', 'evalEvery', 'onProgress', 'optState']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Error(`train: unknown option '${k}'`);
  if (typeof o.apply !== 'function') throw new Error('train: apply must be a function (params, x) => tensor');
  if (typeof o.loss !== 'function') throw new Error('train: loss must be a function (pred, target) => scalar');
  if (!o.optimizer || typeof o.optimizer.update !== 'function') throw new Error('train: optimizer must have init and update (see gradientDescent, momentum)');
  if (!o.data || !(o.data.x instanceof tg.Tensor) || !(o.data.y instanceof tg.Tensor)) throw new Error('train: data must be { x: Tensor, y: Tensor }');
  const { x, y } = o.data;
  if (x.rank < 1 || y.rank < 1 || x.shape[0] !== y.shape[0]) {
    throw new Error(`train: x [${x.shape.join(',')}] and y [${y.shape.join(',')}] must have the same number of examples on axis 0`);
  }
  const n = x.shape[0];
  if (n < 1) throw new Error('train: no training examples');
  if (!Number.isInteger(o.steps) || o.steps < 0) throw new Error(`train: steps must be a non-negative integer, got ${o.steps}`);
  const bs = o.batchSize ?? n;
  if (!Number.isInteger(bs) || bs < 1) throw new Error(`train: batchSize must be a positive integer, got ${o.batchSize}`);
  const evalEvery = o.evalEvery ?? 1;
  if (!Number.isInteger(evalEvery) || evalEvery < 1) throw new Error(`train: evalEvery must be a positive integer, got ${o.evalEvery}`);
  return { n, batchSize: Math.min(bs, n), evalEvery };
}

/**
 * Trains for `steps` optimizer steps and resolves with the final params and state.
 * @example
 * const net = serial(Dense(256, { W_std: Math.SQRT2, b_std: 0.1 }), Relu(), Dense(10, { W_std: Math.SQRT2, b_std: 0.1 }));
 * const { params } = net.init(tg.key(0), [-1, 784]);
 * const result = await train({
 *   apply: net.apply, params, loss: crossEntropyLoss('mean'), optimizer: momentum(1.0, 0.9),
 *   data: { x, y }, steps: 500, batchSize: 64, key: tg.key(1), evalEvery: 10,
 *   onProgress: ({ step, steps, loss }) => bar.update(step / steps, loss),
 * });
 */
export async function train<S>(opts: TrainOptions<S>): Promise<TrainResult<S>> {
  const { n, batchSize, evalEvery } = checkOptions(opts);
  const { apply, loss, optimizer, data, steps, onProgress } = opts;
  const key = opts.key ?? tg.key(0);
  const fullBatch = batchSize === n;
  // A stream of per-step keys for stochastic layers, apart from the shuffling keys foldIn(key, epoch).
  const stochastic = tg.foldIn(key, STOCHASTIC_STREAM);
  let stepKey = stochastic;
  const objective = (p: Params, xb: Tensor, yb: Tensor): Tensor => loss(apply(p, xb, { key: stepKey }), yb);
  const valueAndGrad = tg.valueAndGrad(objective);

  const initialParams = opts.params;
  const initialState = opts.optState !== undefined ? opts.optState : optimizer.init(initialParams);
  let params = initialParams;
  let state = initialState;
  const history: { step: number; loss: number }[] = [];
  // Frees a params/state tree unless the caller gave it to us (optimizers return fresh tensors,
  // so a tree we created shares nothing with the caller's).
  const release = (tree: unknown, callerOwned: unknown) => {
    if (tree !== callerOwned) tg.dispose(tree);
  };

  try {
    for (let step = 0; step < steps; step++) {
      const report = step % evalEvery === 0 || step === steps - 1;
      stepKey = tg.foldIn(stochastic, step);
      const out = tg.tidy(() => {
        let xb = data.x;
        let yb = data.y;
        if (!fullBatch) {
          // One int32 index upload per step, shared by the two gathers.
          const idx = tg.tensor(Int32Array.from(minibatchIndices(key, n, batchSize, step)), [batchSize], 'int32', data.x.backend);
          xb = tg.take(data.x, idx, 0);
          yb = tg.take(data.y, idx, 0);
        }
        const [value, grads] = valueAndGrad(params, xb, yb) as [Tensor, Params];
        if (!(value instanceof tg.Tensor) || value.size !== 1) throw new Error('train: the loss must return a scalar tensor');
        const next = optimizer.update(params, grads, state);
        // Only reporting steps keep the loss tensor; the others let tidy free it.
        return { value: report ? value : null, params: next.params, state: next.state };
      });
      release(params, initialParams);
      release(state, opts.optState);
      params = out.params;
      state = out.state;
      if (out.value !== null) {
        let lossValue: number;
        try {
          lossValue = (await out.value.data())[0];
        } finally {
          out.value.dispose();
        }
        history.push({ step, loss: lossValue });
        if (onProgress) await onProgress({ step, steps, epoch: fullBatch ? 0 : Math.floor((step * batchSize) / n), loss: lossValue });
      }
    }
  } catch (e) {
    release(params, initialParams);
    release(state, opts.optState);
    throw e;
  }
  return { params, optState: state, history };
}
