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
  checkWindowRank,
  formatShapeTree,
  isSingleShape,
  paramLeaf,
  type Activation,
  type InitResult,
  type Layer,
  type Params,
  type ShapeTree,
} from './layer.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import { convRule, convTransposeRule, denseRule, transposePadding } from './kernels/rules.ts';
import { asImageWindow } from './kernels/state.ts';
import {
  axesOption,
  channelsLastPermutation,
  channelsLastShape,
  convLayout,
  fromChannelsLast,
  fromChannelsLastShape,
  toChannelsLast,
  type AxisOptions,
  type ConvLayout,
  type InputAxes,
} from './layout.ts';

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

/**
 * Dense's options: the weights', and stax's batch_axis / channel_axis of its [N, features] input
 * (default 0 and -1); the output keeps both axes where they were.
 */
export interface DenseOptions extends WeightOptions, AxisOptions {}

export interface DenseHyper {
  readonly out: number;
  readonly batchAxis: number;
  readonly channelAxis: number;
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
 * Fully connected layer on [N, in] inputs: [N, in] -> [N, out]. With stax's batch / channel axes
 * ({ batchAxis: 1, channelAxis: 0 }) it maps [in, N] -> [out, N] (same weights [in, out]).
 * @example
 * const layer = Dense(10, { W_std: Math.SQRT2, b_std: 0.1, parameterization: 'ntk' });
 * const { params } = layer.init(tg.key(0), [-1, 784], 'float64'); // { W: [784,10], b: [10] }
 */
export function Dense(out: number, opts: DenseOptions = {}): KernelLayer<DenseHyper, Tensor> {
  const name = `Dense(${out})`;
  checkPositiveInt(name, 'the output size', out);
  const axes: InputAxes = axesOption(name, opts);
  // Resolved here so a bad pair of axes fails at construction, naming the layer.
  const transposed = channelsLastPermutation(name, axes, 2) !== null;
  const hyper: DenseHyper = Object.freeze({ out, batchAxis: axes.batch, channelAxis: axes.channel, ...resolveWeightOptions(name, opts, ['batchAxis', 'channelAxis']) });
  const layout = transposed ? '[features, N] (batchAxis 1, channelAxis 0)' : '[N, features]';
  const width = out * hyper.s[1];
  const layer: Layer<DenseHyper, Tensor> = {
    name: 'Dense',
    hyper,
    inputAxes: axes,
    init(key: Key, inputShape: ShapeTree, dtype: DType = 'float32'): InitResult {
      const s = channelsLastShape(name, checkInputShape(name, inputShape, 2, layout, axes.batch), axes);
      const params = drawWeights(key, [s[1], width], [width], s[1] / hyper.s[0], hyper, checkDType(name, dtype));
      return { params, outputShape: fromChannelsLastShape(name, [s[0], width], axes) };
    },
    apply(params: Params, xIn: Activation): Tensor {
      const checked = checkInputTensor(name, xIn, 2, layout);
      const W = paramLeaf(name, params, 'W');
      const features = channelsLastShape(name, checked.shape, axes)[1];
      if (W.rank !== 2 || W.shape[1] !== width || W.shape[0] !== features) {
        throw new Error(`${name}: input [${checked.shape.join(',')}] does not match weight [${W.shape.join(',')}] (expected [${features},${width}])`);
      }
      // In a tidy: the scaled weights and the product before the bias are freed.
      return tg.tidy(() => {
        const e = effective(name, params, W.shape[0], hyper);
        const h = tg.matmul(toChannelsLast(name, checked, axes), e.W);
        return fromChannelsLast(name, e.b === null ? h : tg.add(h, e.b), axes);
      });
    },
  };
  return withKernel(layer, denseRule(name, hyper));
}

export type ConvPadding = tg.WindowPadding;

/** A per-axis window value: one number for every spatial axis, or one per axis ([s] or [sh, sw]). */
export type AxisValues = number | readonly number[];

export interface ConvOptions extends WeightOptions {
  /** Default 1. */
  strides?: AxisValues;
  /** Default 'VALID' (as in stax). */
  padding?: ConvPadding;
  /** Kernel dilation, default 1. */
  dilation?: AxisValues;
  /**
   * jax.lax's dimension_numbers [lhs, rhs, out] (stax's option), e.g. ['NCHW', 'OIHW', 'NCHW'] or
   * ['NCL', 'OIL', 'NCL']; default channels-last ('NHWC', 'HWIO', 'NHWC' / 'NLC', 'LIO', 'NLC').
   * The weights are stored in the rhs layout. See models/layout.ts `convLayout`.
   */
  dimensionNumbers?: readonly [string, string, string];
}

export interface ConvHyper {
  readonly outChannels: number;
  /** [k] (1-D, on [N, L, C]) or [kh, kw] (on [N, H, W, C]); strides and dilation alike. */
  readonly filterShape: readonly number[];
  readonly strides: readonly number[];
  readonly padding: ConvPadding;
  readonly dilation: readonly number[];
  /** [lhs, rhs, out], e.g. ['NHWC', 'HWIO', 'NHWC']. */
  readonly dimensionNumbers: readonly [string, string, string];
  readonly W_std: number;
  readonly b_std: number | null;
  readonly parameterization: Parameterization;
  readonly s: readonly [number, number];
}

/** One value per spatial axis of the filter, from a number (every axis) or a list of that length. */
function axisValues(layer: string, what: string, v: AxisValues | undefined, spatialRank: number): readonly number[] {
  const list: readonly number[] = v === undefined ? Array<number>(spatialRank).fill(1) : typeof v === 'number' ? Array<number>(spatialRank).fill(v) : v;
  if (!Array.isArray(list) || list.length !== spatialRank) {
    throw new Error(`${layer}: ${what} must be a number or ${spatialRank === 1 ? 'a list [s] of one' : 'a pair'} for a ${spatialRank}-D filter, got ${JSON.stringify(v)}`);
  }
  list.forEach((d) => checkPositiveInt(layer, what, d));
  return Object.freeze([...list]);
}

/**
 * The layer's display name, its checked filter ([k] or [kh, kw]: the spatial rank of its inputs),
 * padding (default 'VALID', as in stax) and layout: Conv and ConvTranspose.
 */
function convArguments(kind: string, outChannels: number, filterShape: readonly number[], padding: ConvPadding = 'VALID', dimensionNumbers?: readonly string[]) {
  const name = `${kind}(${outChannels}, [${Array.isArray(filterShape) ? filterShape.join(',') : String(filterShape)}])`;
  checkPositiveInt(name, 'outChannels', outChannels);
  if (!Array.isArray(filterShape) || (filterShape.length !== 1 && filterShape.length !== 2)) {
    throw new Error(`${name}: filterShape must be [k] (1-D, on [N, L, C]) or a pair [kh, kw] (on [N, H, W, C]), got ${JSON.stringify(filterShape)}`);
  }
  const spatialRank = filterShape.length;
  const filter = axisValues(name, 'filterShape', filterShape, spatialRank);
  if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${name}: padding must be 'SAME' or 'VALID', got ${JSON.stringify(padding)}`);
  const layout = convLayout(name, spatialRank, dimensionNumbers);
  return { name, filter, padding, spatialRank, layout, io: convIO(name, spatialRank, layout) };
}

/**
 * How a conv layer meets the engine's conv primitive, which takes channels-last images and
 * [kh, kw, I, O] filters: its input moved to [N, H, W, C] (a 1-D [N, L, C] one lifted to
 * [N, 1, L, C], a [k] filter to [1, k]), and the output moved back to its own layout.
 */
function convIO(name: string, spatialRank: number, layout: ConvLayout) {
  const inputLayout = `[${[...layout.lhs].join(', ')}] (${layout.lhs})`;
  const lift = (s: number[]) => (spatialRank === 1 ? [s[0], 1, s[1], s[2]] : s);
  const drop = (s: readonly number[]) => (spatialRank === 1 ? [s[0], s[2], s[3]] : [...s]);
  return {
    inputLayout,
    rank: spatialRank + 2,
    /** Checks an input shape (init or apply): the rank of the filter's, named in the error. */
    checkShape: (s: readonly number[]) => checkWindowRank(name, s, spatialRank, 'filter'),
    /** An input shape (the layer's layout) as the image [N, H, W, C] the primitive sees. */
    imageShape: (s: readonly number[]) => lift(channelsLastShape(name, s, layout.input)),
    /** An output image shape [N, H', W', C'] in the layer's output layout. */
    outputShape: (s: readonly number[]) => fromChannelsLastShape(name, drop(s), layout.output),
    toImage: (x: Tensor) => {
      const moved = toChannelsLast(name, x, layout.input);
      return spatialRank === 1 ? tg.reshape(moved, lift([...moved.shape])) : moved;
    },
    fromImage: (y: Tensor) => fromChannelsLast(name, spatialRank === 1 ? tg.reshape(y, drop(y.shape)) : y, layout.output),
    /** The weights (rhs layout) as the primitive's [kh, kw, I, O] filter. */
    filter: (W: Tensor) => {
      const f = layout.weightToSpatialIO(W);
      return spatialRank === 1 ? tg.reshape(f, [1, ...f.shape]) : f;
    },
  };
}

/** Throws unless W has the shape the layer's weights have for this input. */
function checkWeightShape(name: string, x: Tensor, W: Tensor, expected: readonly number[]): void {
  if (W.rank !== expected.length || W.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${name}: input [${x.shape.join(',')}] does not match kernel [${W.shape.join(',')}] (expected [${expected.join(',')}])`);
  }
}

/**
 * What Conv and ConvTranspose share around the conv primitive: their weights (rhs layout, fan-in
 * C x window, over s_in) and their apply: the checks, the effective weights of the
 * parameterization, the primitive with the layer's window options, the bias, and the move back to
 * the layer's layout.
 */
function convWeights(
  name: string, io: ReturnType<typeof convIO>, layout: ConvLayout, filter: readonly number[], width: number,
  fanInPerChannel: number, hyper: ConvTransposeHyper,
) {
  return {
    drawWeights: (key: Key, cin: number, dtype: DType): Params =>
      drawWeights(key, layout.weightShape(filter, cin, width), [width], (cin * fanInPerChannel) / hyper.s[0], hyper, checkDType(name, dtype)),
    apply(params: Params, xIn: Activation, window: tg.Conv2dOptions): Tensor {
      if (xIn instanceof tg.Tensor) io.checkShape(xIn.shape);
      const x = checkInputTensor(name, xIn, io.rank, io.inputLayout);
      const cin = io.imageShape(x.shape)[3];
      checkWeightShape(name, x, paramLeaf(name, params, 'W'), layout.weightShape(filter, cin, width));
      return tg.tidy(() => {
        const e = effective(name, params, cin * fanInPerChannel, hyper);
        const h = tg.conv2d(io.toImage(x), io.filter(e.W), window);
        return io.fromImage(e.b === null ? h : tg.add(h, e.b));
      });
    },
  };
}

/**
 * Convolution, as stax.Conv: 2-D on NHWC images with an HWIO kernel, [N, H, W, C] ->
 * [N, H', W', outChannels], or 1-D with a filter [k] on [N, L, C] with a [k, C, out] (WIO)
 * kernel, [N, L, C] -> [N, L', outChannels]; strides and dilation per axis ([s] or [sh, sw], or
 * one number). `dimensionNumbers` takes other layouts (NCHW / OIHW, NCL / OIL, ...). The 1-D
 * layer runs as the 2-D one on [N, 1, L, C] with a [1, k] filter (one conv primitive, one rule).
 * @example
 * const conv = Conv(64, [3, 3], { strides: 2, padding: 'SAME', W_std: Math.SQRT2 });
 * const { params, outputShape } = conv.init(tg.key(0), [-1, 32, 32, 3]); // W: [3,3,3,64]; [-1,16,16,64]
 * Conv(16, [5], { padding: 'SAME' }).init(tg.key(0), [-1, 100, 4]).outputShape     // [-1, 100, 16]; W: [5, 4, 16]
 * Conv(16, [3, 3], { dimensionNumbers: ['NCHW', 'OIHW', 'NCHW'] })                  // [N, C, H, W] -> [N, 16, H', W']
 */
export function Conv(outChannels: number, filterShape: readonly number[], opts: ConvOptions = {}): KernelLayer<ConvHyper, Tensor> {
  const { name, filter, padding, spatialRank, layout, io } = convArguments('Conv', outChannels, filterShape, opts.padding, opts.dimensionNumbers);
  const hyper: ConvHyper = Object.freeze({
    outChannels,
    filterShape: filter,
    strides: axisValues(name, 'strides', opts.strides, spatialRank),
    padding,
    dilation: axisValues(name, 'dilation', opts.dilation, spatialRank),
    dimensionNumbers: Object.freeze([layout.lhs, layout.rhs, layout.out] as const),
    ...resolveWeightOptions(name, opts, ['strides', 'padding', 'dilation', 'dimensionNumbers']),
  });
  const [f, strides, dilation] = [filter, hyper.strides, hyper.dilation].map(asImageWindow);
  const width = outChannels * hyper.s[1];
  const conv = convWeights(name, io, layout, filter, width, f[0] * f[1], hyper);
  const layer: Layer<ConvHyper, Tensor> = {
    name: 'Conv',
    hyper,
    inputAxes: layout.input,
    init(key: Key, inputShape: ShapeTree, dtype: DType = 'float32'): InitResult {
      if (Array.isArray(inputShape) && isSingleShape(inputShape)) io.checkShape(inputShape);
      const s = checkInputShape(name, inputShape, io.rank, io.inputLayout, layout.input.batch);
      const img = io.imageShape(s);
      const out = [0, 1].map((i) => tg.windowOutputLength(img[1 + i], f[i], strides[i], dilation[i], padding));
      if (out.some((d) => d < 1)) {
        throw new Error(`${name}: the ${hyper.dilation.join('x')}-dilated filter does not fit input ${formatShapeTree(s)} with ${padding} padding`);
      }
      return { params: conv.drawWeights(key, img[3], dtype), outputShape: io.outputShape([img[0], out[0], out[1], width]) };
    },
    apply: (params: Params, xIn: Activation): Tensor => conv.apply(params, xIn, { strides, padding, dilation }),
  };
  return withKernel(layer, convRule(name, hyper));
}

export interface ConvTransposeOptions extends WeightOptions {
  /** The upsampling factor (the forward convolution's stride). Default 1. */
  strides?: AxisValues;
  /** Default 'VALID' (as in stax). */
  padding?: ConvPadding;
  /** As Conv's (models/layout.ts `convLayout`). */
  dimensionNumbers?: readonly [string, string, string];
}

/** As Conv's, without dilation (the strides are the upsampling factors). */
export type ConvTransposeHyper = Omit<ConvHyper, 'dilation'>;

/**
 * Transposed convolution, as stax.ConvTranspose (jax.lax.conv_transpose with an HWIO kernel,
 * not flipped): the input dilated by `strides` (zeros between pixels), padded as
 * lax.conv_transpose pads for 'SAME' / 'VALID', then convolved at stride 1. Output size per axis:
 * in * stride ('SAME') or in * stride + max(k - stride, 0) ('VALID'). Weights, parameterizations,
 * 1-D filters [k] on [N, L, C] and dimensionNumbers as Conv, with fan-in C kh kw.
 * @example ConvTranspose(8, [3, 3], { strides: 2, padding: 'SAME' }).init(tg.key(0), [-1, 4, 4, 3]).outputShape // [-1, 8, 8, 8]
 */
export function ConvTranspose(outChannels: number, filterShape: readonly number[], opts: ConvTransposeOptions = {}): KernelLayer<ConvTransposeHyper, Tensor> {
  const { name, filter, padding, spatialRank, layout, io } = convArguments('ConvTranspose', outChannels, filterShape, opts.padding, opts.dimensionNumbers);
  const hyper: ConvTransposeHyper = Object.freeze({
    outChannels,
    filterShape: filter,
    strides: axisValues(name, 'strides', opts.strides, spatialRank),
    padding,
    dimensionNumbers: Object.freeze([layout.lhs, layout.rhs, layout.out] as const),
    ...resolveWeightOptions(name, opts, ['strides', 'padding', 'dimensionNumbers']),
  });
  const [f, strides] = [filter, hyper.strides].map(asImageWindow);
  const pads = [0, 1].map((i) => transposePadding(f[i], strides[i], padding)) as [[number, number], [number, number]];
  const outLength = (size: number, i: number) => (size - 1) * strides[i] + 1 + pads[i][0] + pads[i][1] - f[i] + 1;
  const width = outChannels * hyper.s[1];
  const conv = convWeights(name, io, layout, filter, width, f[0] * f[1], hyper);
  const layer: Layer<ConvTransposeHyper, Tensor> = {
    name: 'ConvTranspose',
    hyper,
    inputAxes: layout.input,
    init(key: Key, inputShape: ShapeTree, dtype: DType = 'float32'): InitResult {
      if (Array.isArray(inputShape) && isSingleShape(inputShape)) io.checkShape(inputShape);
      const img = io.imageShape(checkInputShape(name, inputShape, io.rank, io.inputLayout, layout.input.batch));
      return { params: conv.drawWeights(key, img[3], dtype), outputShape: io.outputShape([img[0], outLength(img[1], 0), outLength(img[2], 1), width]) };
    },
    apply: (params: Params, xIn: Activation): Tensor => conv.apply(params, xIn, { inputDilation: strides, padding: pads }),
  };
  return withKernel(layer, convTransposeRule(name, hyper));
}
