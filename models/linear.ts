/**
 * The layers with weights, Dense, Conv and ConvTranspose, in both parameterizations of PAPER.md
 * section 1.
 *
 *   'ntk'      (the paper's default, and stax's): trainable w, beta ~ N(0, 1);
 *              h = x . (W_std / sqrt(fan_in)) w + b_std beta
 *   'standard' trainable W = (W_std / sqrt(fan_in)) w ~ N(0, W_std^2 / fan_in), b = b_std beta ~ N(0, b_std^2);
 *              h = x . W + b
 *
 * fan_in is in_features (Dense) or in_channels * kh * kw (Conv).
 *
 * Both parameterizations draw w and beta from the same split of the same key, and the NTK
 * apply scales the weights (not the output) with the very multiplication the standard init
 * performs, so for matching W_std / b_std and the same key the two give bit-identical function
 * values at init; only their gradients (and hence training dynamics) differ.
 *
 * Defaults follow neural-tangents' stax: W_std = 1, b_std = null (no bias at all: no `b`
 * parameter), parameterization 'ntk'. The paper's experiments set them explicitly, e.g.
 * W_std = sqrt(2), b_std = sqrt(0.1) for sigma_w^2 = 2, sigma_b^2 = 0.1.
 *
 * Infinite-width kernels (models/kernels/rules.ts): NNGP K' = W_std^2 A(K) + b_std^2 in both
 * parameterizations; NTK Theta' = K' + W_std^2 A(Theta) ('ntk') or
 * fan_in A(K) + W_std^2 A(Theta) + [bias] ('standard': the expected empirical NTK of the finite
 * network, which grows with fan_in), A = identity (Dense) or the filter-offset mean (Conv).
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import {
  checkDType,
  checkInputShape,
  checkInputTensor,
  formatShapeTree,
  paramLeaf,
  type Activation,
  type InitResult,
  type Layer,
  type Params,
  type ShapeTree,
} from './layer.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import { convRule, convTransposeRule, denseRule, transposePadding } from './kernels/rules.ts';

export type Parameterization = 'ntk' | 'standard';

/** Options shared by Dense and Conv. */
export interface WeightOptions {
  /** sigma_w: weight standard deviation before the 1/sqrt(fan_in) scaling. Default 1. */
  W_std?: number;
  /** sigma_b: bias standard deviation; null (the default) means no bias parameter. */
  b_std?: number | null;
  /** 'ntk' (default) or 'standard', see the file comment. */
  parameterization?: Parameterization;
  /**
   * stax's width scalings [s_in, s_out] of the 'standard' parameterization (default [1, 1]; other
   * values need parameterization 'standard'): the layer's output width is s_out * out, the
   * weights are drawn with variance W_std^2 s_in / fan_in and apply computes x . W / sqrt(s_in) + b,
   * and the NTK reads the reference fan-in fan_in / s_in. In a network, the first layer has
   * s_in = 1, each next layer's s_in is the previous layer's s_out, and the readout has s_out = 1.
   */
  s?: readonly [number, number];
}

export interface DenseHyper {
  readonly out: number;
  readonly W_std: number;
  readonly b_std: number | null;
  readonly parameterization: Parameterization;
  readonly s: readonly [number, number];
}

/**
 * Parameters of Dense and Conv: `W` is [in, out] (Dense) or [kh, kw, in, out] (Conv, HWIO);
 * `b` is [out] and absent when b_std is null. In the 'ntk' parameterization they hold the
 * N(0, 1) draws w and beta, in 'standard' the scaled W and b.
 * @example const { W, b } = Dense(3, { b_std: 0.1 }).init(tg.key(0), [-1, 4]).params as WeightParams;
 */
export interface WeightParams {
  readonly W: Tensor;
  readonly b?: Tensor;
  readonly [name: string]: Params | undefined;
}

function resolveWeightOptions(
  layer: string,
  opts: WeightOptions,
  extra: readonly string[] = [],
): { W_std: number; b_std: number | null; parameterization: Parameterization; s: readonly [number, number] } {
  if (opts === null || typeof opts !== 'object') throw new Error(`${layer}: options must be an object, got ${String(opts)}`);
  // Unknown keys are rejected because a typo (w_std, bStd) would otherwise silently use a default.
  const known = new Set(['W_std', 'b_std', 'parameterization', 's', ...extra]);
  for (const k of Object.keys(opts)) if (!known.has(k)) throw new Error(`${layer}: unknown option '${k}'`);
  const W_std = opts.W_std ?? 1;
  const b_std = opts.b_std === undefined ? null : opts.b_std;
  const parameterization = opts.parameterization ?? 'ntk';
  if (!(Number.isFinite(W_std) && W_std >= 0)) throw new Error(`${layer}: W_std must be a finite number >= 0, got ${W_std}`);
  if (b_std !== null && !(Number.isFinite(b_std) && b_std >= 0)) throw new Error(`${layer}: b_std must be null (no bias) or a finite number >= 0, got ${b_std}`);
  if (parameterization !== 'ntk' && parameterization !== 'standard') {
    throw new Error(`${layer}: unknown parameterization '${String(parameterization)}' (expected 'ntk' or 'standard')`);
  }
  const s = opts.s ?? [1, 1];
  if (!Array.isArray(s) || s.length !== 2 || !s.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`${layer}: s must be a pair of positive integers [s_in, s_out], got ${JSON.stringify(opts.s)}`);
  }
  if (parameterization === 'ntk' && (s[0] !== 1 || s[1] !== 1)) {
    throw new Error(`${layer}: s = [${s.join(', ')}] applies to the 'standard' parameterization only (the 'ntk' one needs no width scaling)`);
  }
  return { W_std, b_std, parameterization, s: Object.freeze([s[0], s[1]] as const) };
}

function checkPositiveInt(layer: string, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${layer}: ${what} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Draws the weight tensor and the optional bias for either parameterization from one key.
 * Why one shared helper: the NTK/standard equivalence at init hinges on both using the same
 * split of the key and the same multiplication.
 */
function drawWeights(
  key: Key,
  wShape: number[],
  biasShape: number[],
  fanIn: number,
  hyper: { W_std: number; b_std: number | null; parameterization: Parameterization },
  dtype: DType,
): { W: Tensor; b?: Tensor } {
  // fanIn here is the reference fan-in (fan_in / s_in for the standard parameterization's s).
  return tg.tidy(() => {
    const [kW, kb] = tg.split(key);
    const w = tg.normal(kW, wShape, dtype);
    const beta = hyper.b_std === null ? null : tg.normal(kb, biasShape, dtype);
    if (hyper.parameterization === 'ntk') return beta === null ? { W: w } : { W: w, b: beta };
    const W = tg.mul(w, hyper.W_std / Math.sqrt(fanIn));
    return beta === null ? { W } : { W, b: tg.mul(beta, hyper.b_std!) };
  });
}

/** The effective weight and bias used by apply (scaled in the NTK parameterization). */
function effective(
  layer: string,
  params: Params,
  fanIn: number,
  hyper: { W_std: number; b_std: number | null; parameterization: Parameterization; s: readonly [number, number] },
): { W: Tensor; b: Tensor | null } {
  const W = paramLeaf(layer, params, 'W');
  const b = hyper.b_std === null ? null : paramLeaf(layer, params, 'b');
  if (hyper.parameterization === 'standard') return { W: hyper.s[0] === 1 ? W : tg.mul(W, 1 / Math.sqrt(hyper.s[0])), b };
  // Scale the weights, not the output: the same multiplication the standard init performs, so
  // both parameterizations compute bit-identical functions at init. It costs one pass over the
  // P weights per call, small next to the N * P multiply-adds of the matmul or conv.
  return { W: tg.mul(W, hyper.W_std / Math.sqrt(fanIn)), b: b === null ? null : tg.mul(b, hyper.b_std!) };
}

/**
 * Fully connected layer on [N, in] inputs: [N, in] -> [N, out].
 * @example
 * const layer = Dense(10, { W_std: Math.SQRT2, b_std: 0.1, parameterization: 'ntk' });
 * const { params } = layer.init(tg.key(0), [-1, 784], 'float64'); // { W: [784,10], b: [10] }
 */
export function Dense(out: number, opts: WeightOptions = {}): KernelLayer<DenseHyper, Tensor> {
  const name = `Dense(${out})`;
  checkPositiveInt(name, 'the output size', out);
  const hyper: DenseHyper = Object.freeze({ out, ...resolveWeightOptions(name, opts) });
  const layer: Layer<DenseHyper, Tensor> = {
    name: 'Dense',
    hyper,
    init(key: Key, inputShape: ShapeTree, dtype: DType = 'float32'): InitResult {
      const s = checkInputShape(name, inputShape, 2, '[N, features]');
      const width = out * hyper.s[1];
      const params = drawWeights(key, [s[1], width], [width], s[1] / hyper.s[0], hyper, checkDType(name, dtype));
      return { params, outputShape: [s[0], width] };
    },
    apply(params: Params, xIn: Activation): Tensor {
      const x = checkInputTensor(name, xIn, 2, '[N, features]');
      const W = paramLeaf(name, params, 'W');
      const width = out * hyper.s[1];
      if (W.rank !== 2 || W.shape[1] !== width || W.shape[0] !== x.shape[1]) {
        throw new Error(`${name}: input [${x.shape.join(',')}] does not match weight [${W.shape.join(',')}] (expected [${x.shape[1]},${width}])`);
      }
      // In a tidy: the scaled weights and the product before the bias are freed.
      return tg.tidy(() => {
        const e = effective(name, params, W.shape[0], hyper);
        const h = tg.matmul(x, e.W);
        return e.b === null ? h : tg.add(h, e.b);
      });
    },
  };
  return withKernel(layer, denseRule(name, hyper));
}

export type ConvPadding = tg.WindowPadding;

export interface ConvOptions extends WeightOptions {
  /** Default 1. */
  strides?: number | readonly [number, number];
  /** Default 'VALID' (as in stax). */
  padding?: ConvPadding;
  /** Kernel dilation, default 1. */
  dilation?: number | readonly [number, number];
}

export interface ConvHyper {
  readonly outChannels: number;
  readonly filterShape: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: ConvPadding;
  readonly dilation: readonly [number, number];
  readonly W_std: number;
  readonly b_std: number | null;
  readonly parameterization: Parameterization;
  readonly s: readonly [number, number];
}

function pairOf(layer: string, what: string, v: number | readonly [number, number] | undefined): readonly [number, number] {
  const p: readonly number[] = v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2) throw new Error(`${layer}: ${what} must be a number or a pair, got ${JSON.stringify(v)}`);
  p.forEach((d) => checkPositiveInt(layer, what, d));
  return Object.freeze([p[0], p[1]] as const);
}

/** The layer's display name and its checked filter and padding (default 'VALID', as in stax): Conv and ConvTranspose. */
function convArguments(kind: string, outChannels: number, filterShape: readonly [number, number], padding: ConvPadding = 'VALID') {
  const name = `${kind}(${outChannels}, [${Array.isArray(filterShape) ? filterShape.join(',') : String(filterShape)}])`;
  checkPositiveInt(name, 'outChannels', outChannels);
  if (!Array.isArray(filterShape)) throw new Error(`${name}: filterShape must be a pair [kh, kw], got ${JSON.stringify(filterShape)}`);
  const filter = pairOf(name, 'filterShape', filterShape);
  if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${name}: padding must be 'SAME' or 'VALID', got ${JSON.stringify(padding)}`);
  return { name, filter, padding };
}

/**
 * 2-D convolution on NHWC inputs with an HWIO kernel: [N, H, W, C] -> [N, H', W', outChannels].
 * @example
 * const conv = Conv(64, [3, 3], { strides: 2, padding: 'SAME', W_std: Math.SQRT2 });
 * const { params, outputShape } = conv.init(tg.key(0), [-1, 32, 32, 3]); // W: [3,3,3,64]; [-1,16,16,64]
 */
export function Conv(outChannels: number, filterShape: readonly [number, number], opts: ConvOptions = {}): KernelLayer<ConvHyper, Tensor> {
  const { name, filter, padding } = convArguments('Conv', outChannels, filterShape, opts.padding);
  const hyper: ConvHyper = Object.freeze({
    outChannels,
    filterShape: filter,
    strides: pairOf(name, 'strides', opts.strides),
    padding,
    dilation: pairOf(name, 'dilation', opts.dilation),
    ...resolveWeightOptions(name, opts, ['strides', 'padding', 'dilation']),
  });
  const layout = '[N, H, W, C] (NHWC)';
  const layer: Layer<ConvHyper, Tensor> = {
    name: 'Conv',
    hyper,
    init(key: Key, inputShape: ShapeTree, dtype: DType = 'float32'): InitResult {
      const s = checkInputShape(name, inputShape, 4, layout);
      const out = [0, 1].map((i) => tg.windowOutputLength(s[1 + i], filter[i], hyper.strides[i], hyper.dilation[i], padding));
      if (out.some((d) => d < 1)) {
        throw new Error(`${name}: the ${hyper.dilation.join('x')}-dilated filter does not fit input ${formatShapeTree(s)} with ${padding} padding`);
      }
      const cin = s[3];
      const width = outChannels * hyper.s[1];
      const params = drawWeights(key, [filter[0], filter[1], cin, width], [width], (cin * filter[0] * filter[1]) / hyper.s[0], hyper, checkDType(name, dtype));
      return { params, outputShape: [s[0], out[0], out[1], width] };
    },
    apply(params: Params, xIn: Activation): Tensor {
      const x = checkInputTensor(name, xIn, 4, layout);
      const W = paramLeaf(name, params, 'W');
      const expected = [filter[0], filter[1], x.shape[3], outChannels * hyper.s[1]];
      if (W.rank !== 4 || W.shape.some((d, i) => d !== expected[i])) {
        throw new Error(`${name}: input [${x.shape.join(',')}] does not match kernel [${W.shape.join(',')}] (expected [${expected.join(',')}])`);
      }
      return tg.tidy(() => {
        const e = effective(name, params, x.shape[3] * filter[0] * filter[1], hyper);
        const h = tg.conv2d(x, e.W, { strides: hyper.strides, padding, dilation: hyper.dilation });
        return e.b === null ? h : tg.add(h, e.b);
      });
    },
  };
  return withKernel(layer, convRule(name, hyper));
}

export interface ConvTransposeOptions extends WeightOptions {
  /** The upsampling factor (the forward convolution's stride). Default 1. */
  strides?: number | readonly [number, number];
  /** Default 'VALID' (as in stax). */
  padding?: ConvPadding;
}

export interface ConvTransposeHyper {
  readonly outChannels: number;
  readonly filterShape: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: ConvPadding;
  readonly W_std: number;
  readonly b_std: number | null;
  readonly parameterization: Parameterization;
  readonly s: readonly [number, number];
}

/**
 * Transposed 2-D convolution, as stax.ConvTranspose (jax.lax.conv_transpose with an HWIO kernel,
 * not flipped): the input dilated by `strides` (zeros between pixels), padded as
 * lax.conv_transpose pads for 'SAME' / 'VALID', then convolved at stride 1. Output size per axis:
 * in * stride ('SAME') or in * stride + max(k - stride, 0) ('VALID'). Weights and
 * parameterizations as Conv, with fan-in C kh kw.
 * @example ConvTranspose(8, [3, 3], { strides: 2, padding: 'SAME' }).init(tg.key(0), [-1, 4, 4, 3]).outputShape // [-1, 8, 8, 8]
 */
export function ConvTranspose(outChannels: number, filterShape: readonly [number, number], opts: ConvTransposeOptions = {}): KernelLayer<ConvTransposeHyper, Tensor> {
  const { name, filter, padding } = convArguments('ConvTranspose', outChannels, filterShape, opts.padding);
  const hyper: ConvTransposeHyper = Object.freeze({
    outChannels,
    filterShape: filter,
    strides: pairOf(name, 'strides', opts.strides),
    padding,
    ...resolveWeightOptions(name, opts, ['strides', 'padding']),
  });
  const pads = [0, 1].map((i) => transposePadding(filter[i], hyper.strides[i], padding)) as [[number, number], [number, number]];
  const outLength = (size: number, i: number) => (size - 1) * hyper.strides[i] + 1 + pads[i][0] + pads[i][1] - filter[i] + 1;
  const layout = '[N, H, W, C] (NHWC)';
  const layer: Layer<ConvTransposeHyper, Tensor> = {
    name: 'ConvTranspose',
    hyper,
    init(key: Key, inputShape: ShapeTree, dtype: DType = 'float32'): InitResult {
      const s = checkInputShape(name, inputShape, 4, layout);
      const cin = s[3];
      const width = outChannels * hyper.s[1];
      const params = drawWeights(key, [filter[0], filter[1], cin, width], [width], (cin * filter[0] * filter[1]) / hyper.s[0], hyper, checkDType(name, dtype));
      return { params, outputShape: [s[0], outLength(s[1], 0), outLength(s[2], 1), width] };
    },
    apply(params: Params, xIn: Activation): Tensor {
      const x = checkInputTensor(name, xIn, 4, layout);
      const W = paramLeaf(name, params, 'W');
      const expected = [filter[0], filter[1], x.shape[3], outChannels * hyper.s[1]];
      if (W.rank !== 4 || W.shape.some((d, i) => d !== expected[i])) {
        throw new Error(`${name}: input [${x.shape.join(',')}] does not match kernel [${W.shape.join(',')}] (expected [${expected.join(',')}])`);
      }
      return tg.tidy(() => {
        const e = effective(name, params, x.shape[3] * filter[0] * filter[1], hyper);
        const h = tg.conv2d(x, e.W, { inputDilation: hyper.strides, padding: pads });
        return e.b === null ? h : tg.add(h, e.b);
      });
    },
  };
  return withKernel(layer, convTransposeRule(name, hyper));
}
