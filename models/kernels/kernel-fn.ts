/**
 * Evaluating a model's infinite-width kernels: builds the input kernel x1 x2^T / C in float64,
 * runs the layer's kernel rule over blocks of inputs, and assembles the NNGP and NTK matrices
 * (stax's kernel_fn(x1, x2, ('nngp', 'ntk')), with its `batch` decorator's blocking built in).
 *
 * Blocks: the inputs are cut into blocks of `blockSize` along each batch axis and every block
 * pair runs the rule chain on its own (the self-covariances of a block's samples are recomputed
 * per block pair; that costs (b1 + b2) entries against b1 * b2 for the cross kernel). When x2 is
 * omitted only block pairs on and above the diagonal run, and the rest is mirrored.
 */
import type { AnyLayer, Layer, Activation } from '../layer.ts';
import { checkQuadratureRule } from './gaussian.ts';
import { ruleOf } from './rules.ts';
import {
  entriesPerPair,
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
};

/**
 * Attaches a kernel rule to a layer object and gives it `kernel(x1, x2?, opts?)`.
 * @example return withKernel({ name: 'Relu', hyper, init, apply }, elementwiseRule('Relu', reluMap()));
 */
export function withKernel<H, O extends Activation>(layer: Layer<H, O>, rule: KernelRule): KernelLayer<H, O> {
  const out = Object.assign(layer, {
    kernelRule: rule,
    kernel(x1: KernelInput, x2?: KernelInput, opts?: KernelOptions): KernelResult {
      return computeKernel(out, x1, x2, opts);
    },
  });
  return out;
}

function readInput(what: string, x: KernelInput): { shape: readonly number[]; data: Float64Array } {
  if (x === null || typeof x !== 'object' || !Array.isArray(x.shape)) throw new Error(`kernel: ${what} must be a tensor or { shape, data }, got ${String(x)}`);
  const raw = 'dataSync' in x && typeof x.dataSync === 'function' ? x.dataSync() : (x as { data: ArrayLike<number> }).data;
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (raw === undefined || raw.length !== size) throw new Error(`kernel: ${what} has shape [${x.shape.join(',')}] but ${raw?.length} values`);
  const data = Float64Array.from(raw);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new Error(`kernel: ${what} has a non-finite value at flat index ${i}`);
  }
  return { shape: x.shape, data };
}

/** Whether any layer in the tree pools positions (then image kernels need every position pair). */
function hasPooling(layer: { name: string; hyper?: unknown }): boolean {
  if (layer.name === 'AvgPool' || layer.name === 'GlobalAvgPool') return true;
  const h = layer.hyper as { layers?: unknown } | undefined;
  if (h && Array.isArray(h.layers)) return h.layers.some((l) => hasPooling(l as { name: string; hyper?: unknown }));
  return false;
}

/**
 * The input kernel of rows [a0, a1) of x1 against rows [b0, b1) of x2 (the same array when x2 is
 * x1): second moments over the channel axis.
 */
function inputState(
  x1: { shape: readonly number[]; data: Float64Array },
  x2: { shape: readonly number[]; data: Float64Array },
  a0: number, a1: number, b0: number, b1: number,
  layout: SpatialLayout,
  withNtk: boolean,
  sameBlock: boolean,
): KernelState {
  const n1 = a1 - a0;
  const n2 = b1 - b0;
  const spatial = layout === 'none' ? [] : [x1.shape[1], x1.shape[2]];
  const S = layout === 'none' ? 1 : x1.shape[1] * x1.shape[2];
  const C = x1.shape[x1.shape.length - 1];
  const P = entriesPerPair(layout, spatial);
  const row = S * C;
  // Second moment between sample i of `u` and sample j of `v` for every entry e.
  const moments = (u: Float64Array, i: number, v: Float64Array, j: number, out: Float64Array, at: number) => {
    const ui = i * row;
    const vj = j * row;
    if (layout === 'full') {
      for (let p = 0; p < S; p++) {
        for (let q = 0; q < S; q++) {
          let acc = 0;
          for (let c = 0; c < C; c++) acc += u[ui + p * C + c] * v[vj + q * C + c];
          out[at + p * S + q] = acc / C;
        }
      }
    } else {
      for (let p = 0; p < S; p++) {
        let acc = 0;
        for (let c = 0; c < C; c++) acc += u[ui + p * C + c] * v[vj + p * C + c];
        out[at + p] = acc / C;
      }
    }
  };
  const nngp = new Float64Array(n1 * n2 * P);
  for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) moments(x1.data, a0 + i, x2.data, b0 + j, nngp, (i * n2 + j) * P);
  const cov1 = new Float64Array(n1 * P);
  for (let i = 0; i < n1; i++) moments(x1.data, a0 + i, x1.data, a0 + i, cov1, i * P);
  let cov2 = cov1;
  if (!sameBlock) {
    cov2 = new Float64Array(n2 * P);
    for (let j = 0; j < n2; j++) moments(x2.data, b0 + j, x2.data, b0 + j, cov2, j * P);
  }
  return {
    n1, n2, layout, spatial, nngp,
    ntk: withNtk ? new Float64Array(n1 * n2 * P) : null,
    cov1, cov2, symmetric: sameBlock, channels: C, isGaussian: false, sources: [0],
  };
}

/**
 * The infinite-width NNGP and NTK kernels of `layer` between the batches x1 and x2 (x2 defaults to
 * x1). Inputs are [N, features] or NHWC images [N, H, W, C]; the output kernel is per output
 * channel (the same for every channel), float64.
 * @example
 * const net = serial(Dense(512, { W_std: 1.5 }), Erf(), Dense(1, { W_std: 1.5 }));
 * const { nngp, ntk } = computeKernel(net, xTrain, xTest); // Matrix [N1, N2] each
 */
export function computeKernel(layer: AnyLayer, x1In: KernelInput, x2In?: KernelInput, opts: KernelOptions = {}): KernelResult {
  if (opts === null || typeof opts !== 'object') throw new Error('kernel: options must be an object');
  const known = new Set(['get', 'blockSize', 'spatial', 'quadrature']);
  for (const key of Object.keys(opts)) if (!known.has(key)) throw new Error(`kernel: unknown option '${key}'`);
  const get = opts.get ?? 'both';
  if (get !== 'both' && get !== 'nngp') throw new Error(`kernel: get must be 'both' or 'nngp', got '${String(get)}'`);
  const quadrature = checkQuadratureRule('kernel', opts.quadrature ?? 'auto');
  let rule: KernelRule;
  try {
    rule = ruleOf(layer);
  } catch (e) {
    throw new Error(`kernel: ${(e as Error).message}`);
  }

  const x1 = readInput('x1', x1In);
  const symmetric = x2In === undefined;
  const x2 = symmetric ? x1 : readInput('x2', x2In);
  if (x1.shape.length !== 2 && x1.shape.length !== 4) {
    throw new Error(`kernel: inputs must be [N, features] or NHWC images [N, H, W, C], got x1 of shape [${x1.shape.join(',')}]`);
  }
  if (x2.shape.length !== x1.shape.length || x2.shape.slice(1).some((d, i) => d !== x1.shape[i + 1])) {
    throw new Error(`kernel: x1 [${x1.shape.join(',')}] and x2 [${x2.shape.join(',')}] must share every axis but the batch axis`);
  }
  const spatialOpt = opts.spatial ?? 'auto';
  if (!['auto', 'full', 'diagonal'].includes(spatialOpt)) throw new Error(`kernel: spatial must be 'auto', 'full' or 'diagonal', got '${String(spatialOpt)}'`);
  const layout: SpatialLayout = x1.shape.length === 2 ? 'none' : spatialOpt === 'auto' ? (hasPooling(layer) ? 'full' : 'diagonal') : spatialOpt;

  const N1 = x1.shape[0];
  const N2 = x2.shape[0];
  const inP = entriesPerPair(layout, x1.shape.length === 4 ? [x1.shape[1], x1.shape[2]] : []);
  const block = opts.blockSize ?? Math.max(1, Math.min(512, Math.floor(Math.sqrt(4e6 / inP))));
  if (!Number.isInteger(block) || block < 1) throw new Error(`kernel: blockSize must be a positive integer, got ${block}`);

  let source = 0;
  const ctx: KernelContext = { ntk: get === 'both', quadrature, nextSource: () => ++source };
  let outLayout: SpatialLayout | null = null;
  let outSpatial: readonly number[] = [];
  let P = 0;
  let nngp = new Float64Array(0);
  let ntk: Float64Array | null = null;

  for (let a0 = 0; a0 < N1; a0 += block) {
    const a1 = Math.min(N1, a0 + block);
    for (let b0 = symmetric ? a0 : 0; b0 < N2; b0 += block) {
      const b1 = Math.min(N2, b0 + block);
      source = 0;
      const state = inputState(x1, x2, a0, a1, b0, b1, layout, ctx.ntk, symmetric && a0 === b0);
      let out;
      try {
        out = rule(state, ctx);
      } catch (e) {
        throw new Error(`kernel: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      if (Array.isArray(out)) throw new Error(`kernel: ${layer.name} returns a list of ${out.length} outputs; kernel() needs a model with one output (end it with fanInSum / fanInConcat)`);
      const res = out as KernelState;
      if (outLayout === null) {
        outLayout = res.layout;
        outSpatial = res.spatial;
        P = entriesPerPair(res.layout, res.spatial);
        nngp = new Float64Array(N1 * N2 * P);
        ntk = ctx.ntk ? new Float64Array(N1 * N2 * P) : null;
      }
      const S = outLayout === 'full' ? outSpatial[0] * outSpatial[1] : 1;
      const n1 = a1 - a0;
      const n2 = b1 - b0;
      for (let i = 0; i < n1; i++) {
        for (let j = 0; j < n2; j++) {
          const src = (i * n2 + j) * P;
          const dst = ((a0 + i) * N2 + (b0 + j)) * P;
          nngp.set(res.nngp.subarray(src, src + P), dst);
          if (ntk) ntk.set(res.ntk!.subarray(src, src + P), dst);
          if (symmetric && b0 === a0 && j <= i) {
            // Diagonal block: K(x_i, x_j) and K(x_j, x_i) were both computed; quadrature need not
            // give them bit-identical values (the two orderings of Sigma), so average them.
            const mir = ((a0 + j) * N2 + (b0 + i)) * P;
            for (let e = 0; e < P; e++) {
              const f = outLayout === 'full' ? (e % S) * S + Math.floor(e / S) : e;
              nngp[dst + e] = nngp[mir + f] = 0.5 * (nngp[dst + e] + nngp[mir + f]);
              if (ntk) ntk[dst + e] = ntk[mir + f] = 0.5 * (ntk[dst + e] + ntk[mir + f]);
            }
          }
          if (symmetric && b0 > a0) {
            // K(x2_j, x1_i)[q, p] = K(x1_i, x2_j)[p, q].
            const mir = ((b0 + j) * N2 + (a0 + i)) * P;
            for (let e = 0; e < P; e++) {
              const f = outLayout === 'full' ? (e % S) * S + Math.floor(e / S) : e;
              nngp[mir + f] = res.nngp[src + e];
              if (ntk) ntk[mir + f] = res.ntk![src + e];
            }
          }
        }
      }
    }
  }
  const shape = [N1, N2, ...(outLayout === 'full' ? [...outSpatial, ...outSpatial] : outSpatial)];
  const asMatrix = (data: Float64Array): KernelMatrix => ({ rows: N1, cols: N2 * P, data, shape });
  return { nngp: asMatrix(nngp), ntk: ntk === null ? null : asMatrix(ntk), layout: outLayout ?? layout };
}
