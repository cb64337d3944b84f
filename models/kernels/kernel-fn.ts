/**
 * Evaluating a model's infinite-width kernels: builds the input kernel x1 x2^T / C as tensors on
 * the inputs' backend (float64 CPU tensors for host arrays), runs the layer's kernel rule over
 * blocks of inputs, and assembles the NNGP and NTK tensors (stax's kernel_fn(x1, x2,
 * ('nngp', 'ntk')), with its `batch` decorator's blocking built in). Nothing is read back: on
 * WebGPU the result stays on the device until the caller reads it.
 *
 * Blocks: the inputs are cut into blocks of `blockSize` along each batch axis and every block
 * pair runs the rule chain on its own (the self-covariances of a block's samples are recomputed
 * per block pair; that costs (b1 + b2) entries against b1 * b2 for the cross kernel). When x2 is
 * omitted only block pairs on and above the diagonal run, and the rest is mirrored.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { AnyLayer, Layer, Activation } from '../layer.ts';
import { CHANNELS_LAST, toChannelsLast, type InputAxes } from '../layout.ts';
import { checkQuadratureRule } from './gaussian.ts';
import { ruleOf } from './rules.ts';
import {
  entriesPerPair,
  mirrorPairs,
  type KernelContext,
  type KernelInput,
  type KernelMatrix,
  type KernelOptions,
  type KernelResult,
  type KernelRule,
  type KernelState,
  type SpatialLayout,
} from './state.ts';

/** A layer that carries its kernel rule and the `kernel` method built from it. */
export type KernelLayer<H = unknown, O extends Activation = Activation> = Layer<H, O> & {
  readonly kernelRule: KernelRule;
  kernel(x1: KernelInput, x2?: KernelInput, opts?: KernelOptions): KernelResult;
  /** stax's `kernel_fn(x1, x2, get)`: see {@link kernelFunction}. */
  readonly kernelFn: KernelFn;
};

/** A kernel kind, as stax's `get`. */
export type KernelGet = 'nngp' | 'ntk';

/** Options of a stax-style kernel function call. */
export interface KernelFnOptions {
  /**
   * stax's diagonal_batch (default true). Our kernels always keep only the batch diagonal of the
   * self-covariances (no layer here mixes samples), which is all stax keeps by default; false is
   * accepted and returns the same kernels (in stax it only changes how `cov1` is stored).
   */
  diagonalBatch?: boolean;
  /**
   * stax's diagonal_spatial (default false): true keeps only the position pairs (p, p), giving
   * image kernels [N1, N2, H, W]; false gives every pair, [N1, N2, H1, H2, W1, W2] (stax's zipped
   * order). Models with pooling need false.
   */
  diagonalSpatial?: boolean;
  blockSize?: number;
  quadrature?: 'auto' | number;
}

/** What a kernel function returns for get = null: stax's `Kernel` (cov2 null when x2 was omitted). */
export interface Kernel {
  readonly nngp: Tensor;
  readonly ntk: Tensor;
  readonly cov1: Tensor;
  readonly cov2: Tensor | null;
}

/**
 * stax's kernel_fn: `kernelFn(x1, x2 = null, get = null, opts?)`. `get` 'nngp' or 'ntk' returns
 * that kernel tensor; a list returns an object with those kernels; null returns the whole
 * {@link Kernel}. Kernels of dense outputs are [N1, N2]; of image outputs [N1, N2, H1, H2, W1, W2]
 * (or [N1, N2, H, W] with diagonalSpatial); of 1-D outputs [N1, N2, L1, L2] (or [N1, N2, L]).
 */
export interface KernelFn {
  (x1: KernelInput, x2?: KernelInput | null, get?: null, opts?: KernelFnOptions): Kernel;
  (x1: KernelInput, x2: KernelInput | null | undefined, get: KernelGet, opts?: KernelFnOptions): Tensor;
  (x1: KernelInput, x2: KernelInput | null | undefined, get: readonly KernelGet[], opts?: KernelFnOptions): { nngp?: Tensor; ntk?: Tensor };
  (x1: KernelInput, x2?: KernelInput | null, get?: KernelGet | readonly KernelGet[] | null, opts?: KernelFnOptions): Tensor | { nngp?: Tensor; ntk?: Tensor } | Kernel;
}

/**
 * Kernel tensors in stax's axis order: a 'full' image kernel [N1, N2, H, W, H, W] becomes
 * [N1, N2, H, H, W, W]; 1-D kernels [N1, N2, L, L] already are.
 */
function staxOrder(t: Tensor, layout: SpatialLayout, batchAxes: 1 | 2): Tensor {
  if (layout !== 'full' || t.rank - batchAxes !== 4) return t;
  return batchAxes === 2 ? tg.transpose(t, [0, 1, 2, 4, 3, 5]) : tg.transpose(t, [0, 1, 3, 2, 4]);
}

/**
 * The stax-style kernel function of a layer (the third element of stax's `(init_fn, apply_fn,
 * kernel_fn)`); every layer also carries it as `layer.kernelFn`.
 * @example
 * const kernelFn = kernelFunction(serial(Dense(512), Relu(), Dense(1)));
 * const ntk = kernelFn(xTest, xTrain, 'ntk');           // [N1, N2] tensor
 * const { nngp, cov1 } = kernelFn(xTrain);              // the whole Kernel
 */
export function kernelFunction(layer: AnyLayer): KernelFn {
  return ((x1: KernelInput, x2?: KernelInput | null, get?: KernelGet | readonly KernelGet[] | null, opts: KernelFnOptions = {}) => {
    if (opts === null || typeof opts !== 'object') throw new Error('kernelFn: options must be an object');
    const known = ['diagonalBatch', 'diagonalSpatial', 'blockSize', 'quadrature'];
    for (const key of Object.keys(opts)) if (!known.includes(key)) throw new Error(`kernelFn: unknown option '${key}' (${known.join(', ')})`);
    for (const key of ['diagonalBatch', 'diagonalSpatial'] as const) {
      if (opts[key] !== undefined && typeof opts[key] !== 'boolean') throw new Error(`kernelFn: ${key} must be a boolean, got ${String(opts[key])}`);
    }
    const gets: KernelGet[] = get === null || get === undefined ? ['nngp', 'ntk'] : typeof get === 'string' ? [get] : [...get];
    for (const g of gets) if (g !== 'nngp' && g !== 'ntk') throw new Error(`kernelFn: get must be 'nngp', 'ntk', a list of them or null, got '${String(g)}'`);
    const res = computeKernel(layer, x1, x2 ?? undefined, {
      get: gets.includes('ntk') ? 'both' : 'nngp',
      spatial: opts.diagonalSpatial ? 'diagonal' : 'full',
      ...(opts.blockSize !== undefined ? { blockSize: opts.blockSize } : {}),
      ...(opts.quadrature !== undefined ? { quadrature: opts.quadrature } : {}),
    });
    const pick = (g: KernelGet) => staxOrder(g === 'nngp' ? res.nngp : res.ntk!, res.layout, 2);
    if (typeof get === 'string') return pick(get);
    if (Array.isArray(get)) return Object.fromEntries(gets.map((g) => [g, pick(g)]));
    return { nngp: pick('nngp'), ntk: pick('ntk'), cov1: staxOrder(res.cov1!, res.layout, 1), cov2: x2 === null || x2 === undefined ? null : staxOrder(res.cov2!, res.layout, 1) };
  }) as KernelFn;
}

/**
 * Attaches a kernel rule to a layer object and gives it `kernel(x1, x2?, opts?)`.
 * @example return withKernel({ name: 'Relu', hyper, init, apply }, elementwiseRule('Relu', reluKernelMap()));
 */
export function withKernel<H, O extends Activation>(layer: Layer<H, O>, rule: KernelRule): KernelLayer<H, O> {
  const out: KernelLayer<H, O> = Object.assign(layer, {
    kernelRule: rule,
    kernel(x1: KernelInput, x2?: KernelInput, opts?: KernelOptions): KernelResult {
      return computeKernel(out, x1, x2, opts);
    },
    kernelFn: ((...args: Parameters<KernelFn>) => (kernelFunction(out) as (...a: unknown[]) => unknown)(...args)) as KernelFn,
  });
  return out;
}

/** The input as a tensor: host data becomes a float64 CPU tensor; non-finite values are refused where readable. */
function readInput(what: string, x: KernelInput): Tensor {
  if (x instanceof tg.Tensor) {
    if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new Error(`kernel: ${what} must be a float32 or float64 tensor, got ${x.dtype}`);
    // A backend that reads synchronously (the CPU) is checked here; on WebGPU a non-finite input
    // shows up as non-finite kernel entries instead of a readback before every evaluation.
    if (x.backend.readSync) assertFinite(what, x.dataSync());
    return x;
  }
  if (x === null || typeof x !== 'object' || !Array.isArray(x.shape)) throw new Error(`kernel: ${what} must be a tensor or { shape, data }, got ${String(x)}`);
  const raw = (x as { data: ArrayLike<number> }).data;
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (raw === undefined || raw.length !== size) throw new Error(`kernel: ${what} has shape [${x.shape.join(',')}] but ${raw?.length} values`);
  const data = Float64Array.from(raw);
  assertFinite(what, data);
  const cpu = tg.backendInstance('cpu');
  if (!cpu) throw new Error('kernel: host inputs need the CPU backend');
  return tg.tensor(data, x.shape, 'float64', cpu);
}

function assertFinite(what: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new Error(`kernel: ${what} has a non-finite value at flat index ${i}`);
  }
}

/**
 * The axes a network reads its input with: those of the first layer that declares them (serial:
 * its children in order; parallel: every branch that declares must agree), null when none does.
 */
export function inputAxesOf(layer: { name: string; hyper?: unknown; inputAxes?: InputAxes }): InputAxes | null {
  if (layer.inputAxes) return layer.inputAxes;
  const h = layer.hyper as { layers?: unknown } | undefined;
  if (!h || !Array.isArray(h.layers)) return null;
  const children = h.layers as { name: string; hyper?: unknown; inputAxes?: InputAxes }[];
  if (layer.name !== 'parallel') {
    for (const child of children) {
      const axes = inputAxesOf(child);
      if (axes) return axes;
    }
    return null;
  }
  const declared = children.map(inputAxesOf).filter((a): a is InputAxes => a !== null);
  if (declared.some((a) => a.batch !== declared[0].batch || a.channel !== declared[0].channel)) {
    throw new Error(`kernel: the branches of parallel read their inputs with different batch / channel axes (${declared.map((a) => `${a.batch}/${a.channel}`).join(', ')})`);
  }
  return declared[0] ?? null;
}

/** Layers that mix positions, so that the kernel needs every position pair ('full'). */
const POOLING = new Set(['AvgPool', 'GlobalAvgPool', 'SumPool', 'GlobalSumPool']);

function hasPooling(layer: { name: string; hyper?: unknown }): boolean {
  if (POOLING.has(layer.name)) return true;
  const h = layer.hyper as { layers?: unknown } | undefined;
  if (h && Array.isArray(h.layers)) return h.layers.some((l) => hasPooling(l as { name: string; hyper?: unknown }));
  return false;
}

/**
 * The input kernel of the samples x1 against x2 (the same tensor when the block pairs x1 with
 * itself): second moments over the channel axis, per position pair ('full') or position.
 */
function inputState(x1: Tensor, x2: Tensor, layout: SpatialLayout, spatialRank: 0 | 1 | 2, withNtk: boolean, sameBlock: boolean): KernelState {
  const n1 = x1.shape[0];
  const n2 = x2.shape[0];
  const C = x1.shape[x1.rank - 1];
  const spatial = layout === 'none' ? [] : [x1.shape[1], x1.shape[2]];
  const S = layout === 'none' ? 1 : x1.shape[1] * x1.shape[2];
  let nngp: Tensor;
  let self: (x: Tensor) => Tensor;
  if (layout === 'none') {
    nngp = tg.matmul(x1, x2, { transposeB: true });
    self = (x) => tg.sum(tg.mul(x, x), 1);
  } else if (layout === 'diagonal') {
    // One product per position: [S, n1, C] x [S, n2, C]^T.
    const bySite = (x: Tensor) => tg.transpose(tg.reshape(x, [x.shape[0], S, C]), [1, 0, 2]);
    nngp = tg.reshape(tg.transpose(tg.matmul(bySite(x1), bySite(x2), { transposeB: true }), [1, 2, 0]), [n1, n2, ...spatial]);
    self = (x) => tg.sum(tg.mul(x, x), 3);
  } else {
    const rows = (x: Tensor) => tg.reshape(x, [x.shape[0] * S, C]);
    const all = tg.reshape(tg.matmul(rows(x1), rows(x2), { transposeB: true }), [n1, S, n2, S]);
    nngp = tg.reshape(tg.transpose(all, [0, 2, 1, 3]), [n1, n2, ...spatial, ...spatial]);
    self = (x) => {
      const b = tg.reshape(x, [x.shape[0], S, C]);
      return tg.reshape(tg.matmul(b, b, { transposeB: true }), [x.shape[0], ...spatial, ...spatial]);
    };
  }
  nngp = tg.div(nngp, C);
  const cov1 = tg.div(self(x1), C);
  const cov2 = sameBlock ? cov1 : tg.div(self(x2), C);
  return {
    n1, n2, layout, spatial, spatialRank, nngp,
    ntk: withNtk ? tg.zerosLike(nngp) : null,
    cov1, cov2, symmetric: sameBlock, channels: C, isGaussian: false, sources: [0],
  };
}

/** Rows [start, end) of a batch. */
function rowsOf(x: Tensor, start: number, end: number): Tensor {
  if (start === 0 && end === x.shape[0]) return x;
  return tg.slice(x, [start, ...x.shape.slice(1).map(() => 0)], [end, ...x.shape.slice(1)]);
}

/** Reads a kernel tensor back as a float64 host matrix [N1, rest] (CPU or any synchronously readable backend). */
export function kernelMatrix(t: Tensor): KernelMatrix {
  const data = Float64Array.from(t.dataSync());
  return { rows: t.shape[0], cols: t.shape[0] === 0 ? 0 : data.length / t.shape[0], data, shape: [...t.shape] };
}

/**
 * The infinite-width NNGP and NTK kernels of `layer` between the batches x1 and x2 (x2 defaults to
 * x1). Inputs are [N, features], 1-D [N, L, C] or NHWC images [N, H, W, C], tensors (computed on their backend in
 * their dtype, differentiable) or host arrays (float64 on the CPU); the output kernel is per
 * output channel (the same for every channel).
 * @example
 * const net = serial(Dense(512, { W_std: 1.5 }), Erf(), Dense(1, { W_std: 1.5 }));
 * const { nngp, ntk } = computeKernel(net, xTrain, xTest); // tensors [N1, N2] on xTrain's backend
 * const theta = await ntk!.data();                        // or kernelMatrix(ntk!) on the CPU
 */
export function computeKernel(layer: AnyLayer, x1In: KernelInput, x2In?: KernelInput, opts: KernelOptions = {}): KernelResult {
  if (opts === null || typeof opts !== 'object') throw new Error('kernel: options must be an object');
  const known = new Set(['get', 'blockSize', 'spatial', 'quadrature']);
  for (const key of Object.keys(opts)) if (!known.has(key)) throw new Error(`kernel: unknown option '${key}'`);
  const get = opts.get ?? 'both';
  // 'ntk' computes the NNGP kernel on the way (every NTK rule needs it) and returns both.
  if (get !== 'both' && get !== 'nngp' && get !== 'ntk') throw new Error(`kernel: get must be 'both', 'nngp' or 'ntk', got '${String(get)}'`);
  const quadrature = checkQuadratureRule('kernel', opts.quadrature ?? 'auto');
  let rule: KernelRule;
  try {
    rule = ruleOf(layer);
  } catch (e) {
    throw new Error(`kernel: ${(e as Error).message}`);
  }

  const x1Read = readInput('x1', x1In);
  const symmetric = x2In === undefined;
  const x2Read = symmetric ? x1Read : readInput('x2', x2In);
  if (x1Read.rank < 2 || x1Read.rank > 4) {
    throw new Error(`kernel: inputs must be [N, features], 1-D [N, L, C] or NHWC images [N, H, W, C], got x1 of shape [${x1Read.shape.join(',')}]`);
  }
  // The kernels below read inputs batch first, channels last; a network whose first layer reads
  // another layout (stax's batch_axis / channel_axis, Conv's dimension_numbers) gets its inputs
  // moved there (models/layout.ts).
  const axes = inputAxesOf(layer) ?? CHANNELS_LAST;
  if (x2Read.rank !== x1Read.rank) throw new Error(`kernel: x1 [${x1Read.shape.join(',')}] and x2 [${x2Read.shape.join(',')}] must share every axis but the batch axis (their ranks differ)`);
  const moved = (what: string, x: Tensor) => {
    try {
      return toChannelsLast('kernel', x, axes);
    } catch (e) {
      throw new Error(`kernel: the first layer of ${layer.name} reads batch axis ${axes.batch} and channel axis ${axes.channel}, which ${what} [${x.shape.join(',')}] does not have (${(e as Error).message.replace(/^kernel: /, '')})`, { cause: e });
    }
  };
  const x1 = moved('x1', x1Read);
  const x2 = symmetric ? x1 : moved('x2', x2Read);
  if (x2.shape.slice(1).some((d, i) => d !== x1.shape[i + 1])) {
    throw new Error(`kernel: x1 [${x1Read.shape.join(',')}] and x2 [${x2Read.shape.join(',')}] must share every axis but the batch axis`);
  }
  if (x2.dtype !== x1.dtype || x2.backend !== x1.backend) {
    throw new Error(`kernel: x1 (${x1.dtype} on ${x1.backend.name}) and x2 (${x2.dtype} on ${x2.backend.name}) must share dtype and backend`);
  }
  const spatialOpt = opts.spatial ?? 'auto';
  if (!['auto', 'full', 'diagonal'].includes(spatialOpt)) throw new Error(`kernel: spatial must be 'auto', 'full' or 'diagonal', got '${String(spatialOpt)}'`);
  const layout: SpatialLayout = x1.rank === 2 ? 'none' : spatialOpt === 'auto' ? (hasPooling(layer) ? 'full' : 'diagonal') : spatialOpt;
  const spatialRank = (x1.rank - 2) as 0 | 1 | 2;
  // 1-D inputs [N, L, C] run as images [N, 1, L, C] (state.ts); the results drop the height axes.
  const asImage = (x: Tensor) => (spatialRank === 1 ? tg.reshape(x, [x.shape[0], 1, x.shape[1], x.shape[2]]) : x);

  const N1 = x1.shape[0];
  const N2 = x2.shape[0];
  const inP = entriesPerPair(layout, x1.shape.slice(1, -1));
  const block = opts.blockSize ?? Math.max(1, Math.min(512, Math.floor(Math.sqrt(4e6 / inP))));
  if (!Number.isInteger(block) || block < 1) throw new Error(`kernel: blockSize must be a positive integer, got ${block}`);

  let source = 0;
  const ctx: KernelContext = { ntk: get !== 'nngp', quadrature, nextSource: () => ++source };
  const result = tg.tidy(() => {
    let outLayout: SpatialLayout = layout;
    let outSpatialRank = spatialRank;
    // blocks[a][b]: the kernels of x1 block a against x2 block b (symmetric: b >= a only).
    const blocks: { nngp: Tensor; ntk: Tensor | null }[][] = [];
    // Output self-covariances (the batch diagonal): one per x1 row block, one per x2 column block.
    const cov1Blocks: Tensor[] = [];
    const cov2Blocks: Tensor[] = [];
    for (let a0 = 0; a0 < N1; a0 += block) {
      const row: { nngp: Tensor; ntk: Tensor | null }[] = [];
      blocks.push(row);
      const a1 = Math.min(N1, a0 + block);
      for (let b0 = symmetric ? a0 : 0; b0 < N2; b0 += block) {
        const b1 = Math.min(N2, b0 + block);
        source = 0;
        const sameBlock = symmetric && a0 === b0;
        const u = asImage(rowsOf(x1, a0, a1));
        const state = inputState(u, sameBlock ? u : asImage(rowsOf(x2, b0, b1)), layout, spatialRank, ctx.ntk, sameBlock);
        let out;
        try {
          out = rule(state, ctx);
        } catch (e) {
          throw new Error(`kernel: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        if (Array.isArray(out)) throw new Error(`kernel: ${layer.name} returns a list of ${out.length} outputs; kernel() needs a model with one output (end it with fanInSum / fanInConcat)`);
        const res = out as KernelState;
        outLayout = res.layout;
        outSpatialRank = res.spatialRank;
        row.push({ nngp: res.nngp, ntk: res.ntk });
        if (b0 === (symmetric ? a0 : 0)) cov1Blocks.push(res.cov1);
        if (a0 === 0 && !symmetric) cov2Blocks.push(res.cov2);
      }
    }
    const assemble = (pick: (b: { nngp: Tensor; ntk: Tensor | null }) => Tensor): Tensor => {
      const rows = blocks.map((row, a) => {
        // Symmetric: blocks left of the diagonal are mirrors of blocks above it.
        // (Row i < a holds the blocks of x2 block i, i + 1, ..., so block (i, a) is row[a - i].)
        const left = symmetric ? blocks.slice(0, a).map((r, i) => mirrorPairs(pick(r[a - i]), outLayout)) : [];
        const own = row.map((b, j) => {
          const t = pick(b);
          // A diagonal block pairs x_i with x_j and x_j with x_i: average the two (quadrature of
          // different orderings of Sigma need not agree to the last bit), exactly symmetric.
          return symmetric && j === 0 ? tg.mul(tg.add(t, mirrorPairs(t, outLayout)), 0.5) : t;
        });
        return tg.concat([...left, ...own], 1);
      });
      return tg.concat(rows, 0);
    };
    // 1-D outputs: drop the height axis (of size 1) of each position, [.., 1, L, 1, L] -> [.., L, L].
    const asUser = (t: Tensor, lead: number) => (outSpatialRank !== 1 || outLayout === 'none' ? t : tg.reshape(t, [...t.shape.slice(0, lead), ...t.shape.slice(lead).filter((_, i) => i % 2 === 1)]));
    const nngp = asUser(assemble((b) => b.nngp), 2);
    const ntk = ctx.ntk ? asUser(assemble((b) => b.ntk!), 2) : null;
    const cov1 = asUser(tg.concat(cov1Blocks, 0), 1);
    return { nngp, ntk, layout: outLayout, cov1, cov2: symmetric ? cov1 : asUser(tg.concat(cov2Blocks, 0), 1) };
  });
  // The inputs moved to channels-last were made here, outside the tidy: free them.
  if (x1 !== x1Read) x1.dispose();
  if (x2 !== x2Read && x2 !== x1) x2.dispose();
  return result;
}
