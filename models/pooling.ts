/**
 * Parameter-free layers that change shape: Flatten, AvgPool / SumPool and GlobalAvgPool /
 * GlobalSumPool, on images [N, H, W, C] and 1-D activations [N, L, C] (windows [kh, kw] and [k];
 * a 1-D window runs as the [1, k] one on [N, 1, L, C]). Kernel rules: AvgPool averages the position-pair kernel over the window
 * on each side (SumPool sums it), GlobalAvgPool over all position pairs (GlobalSumPool sums),
 * Flatten over the diagonal pairs (p, p) (models/kernels/rules.ts).
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import { checkDims, checkInputShape, checkInputTensor, checkWindowRank, formatShapeTree, isSingleShape, type Activation, type InitResult, type Params, type ShapeTree } from './layer.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import { avgPoolRule, flattenRule, globalAvgPoolRule, globalSumPoolRule, sumPoolRule } from './kernels/rules.ts';
import { asImageWindow } from './kernels/state.ts';
import {
  axesOption,
  channelsLastPermutation,
  channelsLastShape,
  CHANNELS_LAST,
  fromChannelsLast,
  fromChannelsLastShape,
  toChannelsLast,
  type AxisOptions,
  type InputAxes,
} from './layout.ts';

/**
 * [N, d1, d2, ...] -> [N, d1 * d2 * ...] (row-major, so NHWC images flatten pixel by pixel).
 * @example serial(Conv(8, [3, 3]), Relu(), Flatten(), Dense(10))
 */
export function Flatten(): KernelLayer<Record<string, never>, Tensor> {
  const name = 'Flatten';
  return withKernel({
    name,
    hyper: Object.freeze({}),
    // Batch first; where the channels sit does not matter to its kernel (features are all
    // (position, channel) pairs), so NCHW / NCL activations flatten as they are.
    inputAxes: CHANNELS_LAST,
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      if (!Array.isArray(inputShape) || !isSingleShape(inputShape) || inputShape.length < 1) {
        throw new Error(`${name}: expected one input shape [N, ...], got ${Array.isArray(inputShape) ? formatShapeTree(inputShape) : String(inputShape)}`);
      }
      checkDims(name, inputShape);
      return { params: null, outputShape: [inputShape[0], inputShape.slice(1).reduce((a, b) => a * b, 1)] };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      if (!(xIn instanceof tg.Tensor) || xIn.rank < 1) checkInputTensor(name, xIn, 1, '[N, ...]');
      const x = xIn as Tensor;
      return tg.reshape(x, [x.shape[0], x.shape.slice(1).reduce((a, b) => a * b, 1)]);
    },
  }, flattenRule(name));
}

export interface AvgPoolHyper {
  /** [k] (on [N, L, C]) or [kh, kw] (on [N, H, W, C]); strides alike. */
  readonly window: readonly number[];
  readonly strides: readonly number[];
  readonly padding: 'SAME' | 'VALID';
}

/**
 * Average pooling over NHWC windows [kh, kw], or over 1-D windows [k] of [N, L, C]; zero padding
 * counts in the average (stax's normalize_edges = false). Defaults as stax: strides 1 on every
 * axis (note: tg.avgPool's own default is strides = window), padding 'VALID'; stax's batch_axis /
 * channel_axis as `{ batchAxis, channelAxis }` (e.g. { channelAxis: 1 } on NCHW).
 * @example AvgPool([2, 2], [2, 2]) // [N, 8, 8, C] -> [N, 4, 4, C]
 * @example AvgPool([3], [2], 'SAME') // [N, 9, C] -> [N, 5, C]
 */
export function AvgPool(
  window: readonly number[],
  strides?: readonly number[],
  padding: 'SAME' | 'VALID' = 'VALID',
  opts: AxisOptions = {},
): KernelLayer<AvgPoolHyper, Tensor> {
  return windowPool('AvgPool', window, strides, padding, opts);
}

/**
 * Sum pooling over NHWC windows [kh, kw] or 1-D windows [k] (zero padding adds nothing), as
 * stax.SumPool: AvgPool times the window size. Defaults strides 1, padding 'VALID'; axes as
 * AvgPool's. Its kernel
 * needs every position pair, which `spatial: 'auto'` (the default) picks.
 * @example SumPool([2, 2], [2, 2]) // [N, 8, 8, C] -> [N, 4, 4, C]
 */
export function SumPool(
  window: readonly number[],
  strides?: readonly number[],
  padding: 'SAME' | 'VALID' = 'VALID',
  opts: AxisOptions = {},
): KernelLayer<AvgPoolHyper, Tensor> {
  return windowPool('SumPool', window, strides, padding, opts);
}

function windowPool(
  kind: 'AvgPool' | 'SumPool',
  window: readonly number[],
  strides: readonly number[] | undefined,
  padding: 'SAME' | 'VALID',
  opts: AxisOptions,
): KernelLayer<AvgPoolHyper, Tensor> {
  const name = `${kind}([${Array.isArray(window) ? window.join(',') : String(window)}])`;
  const axes = checkedAxisOptions(name, opts);
  if (!Array.isArray(window) || (window.length !== 1 && window.length !== 2)) {
    throw new Error(`${name}: window must be [k] (1-D, on [N, L, C]) or a pair [kh, kw] (on [N, H, W, C]), got ${JSON.stringify(window)}`);
  }
  const spatialRank = window.length;
  const perAxis = (what: string, v: readonly number[]): readonly number[] => {
    if (!Array.isArray(v) || v.length !== spatialRank || !v.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new Error(`${name}: ${what} must be ${spatialRank === 1 ? 'a list [s] of one positive integer' : 'a pair of positive integers'} for a ${spatialRank}-D window, got ${JSON.stringify(v)}`);
    }
    return Object.freeze([...v]);
  };
  if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${name}: padding must be 'SAME' or 'VALID', got ${JSON.stringify(padding)}`);
  const hyper: AvgPoolHyper = Object.freeze({ window: perAxis('window', window), strides: perAxis('strides', strides ?? window.map(() => 1)), padding });
  const [w, st] = [hyper.window, hyper.strides].map(asImageWindow);
  const layout = axes !== CHANNELS_LAST ? `rank ${spatialRank + 2} with batchAxis ${axes.batch}, channelAxis ${axes.channel}` : spatialRank === 1 ? '[N, L, C] (NLC)' : '[N, H, W, C] (NHWC)';
  // The pool runs channels-last; 1-D activations [N, L, C] as images [N, 1, L, C] with a [1, k] window.
  const lift = (s: readonly number[]) => (spatialRank === 1 ? [s[0], 1, s[1], s[2]] : [...s]);
  const drop = (s: readonly number[]) => (spatialRank === 1 ? [s[0], s[2], s[3]] : [...s]);
  return withKernel({
    name: kind,
    hyper,
    inputAxes: axes,
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      if (Array.isArray(inputShape) && isSingleShape(inputShape)) checkWindowRank(name, inputShape, spatialRank, 'window');
      const s = checkInputShape(name, inputShape, spatialRank + 2, layout, axes.batch);
      const img = lift(channelsLastShape(name, s, axes));
      const out = [0, 1].map((i) => tg.windowOutputLength(img[1 + i], w[i], st[i], 1, padding));
      if (out.some((d) => d < 1)) throw new Error(`${name}: the window does not fit input ${formatShapeTree(s)} with VALID padding`);
      return { params: null, outputShape: fromChannelsLastShape(name, drop([img[0], out[0], out[1], img[3]]), axes) };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      if (xIn instanceof tg.Tensor) checkWindowRank(name, xIn.shape, spatialRank, 'window');
      const x = checkInputTensor(name, xIn, spatialRank + 2, layout);
      const img = lift(channelsLastShape(name, x.shape, axes));
      if (padding === 'VALID' && (img[1] < w[0] || img[2] < w[1])) {
        throw new Error(`${name}: the window does not fit input [${x.shape.join(',')}] with VALID padding`);
      }
      return tg.tidy(() => {
        const mean = tg.avgPool(tg.reshape(toChannelsLast(name, x, axes), img), w, st, padding);
        const pooled = kind === 'AvgPool' ? mean : tg.mul(mean, w[0] * w[1]);
        return fromChannelsLast(name, tg.reshape(pooled, drop(pooled.shape)), axes);
      });
    },
  }, kind === 'AvgPool' ? avgPoolRule(name, hyper) : sumPoolRule(name, hyper));
}

/** stax's batch_axis / channel_axis from a layer's options object, refusing unknown keys (a typo would silently keep the default). */
function checkedAxisOptions(name: string, opts: AxisOptions): InputAxes {
  if (opts === null || typeof opts !== 'object') throw new Error(`${name}: options must be an object, got ${String(opts)}`);
  for (const key of Object.keys(opts)) if (key !== 'batchAxis' && key !== 'channelAxis') throw new Error(`${name}: unknown option '${key}'`);
  const axes = axesOption(name, opts);
  // Resolved once so that equal axes fail at construction (any rank >= 2 shows it).
  if (axes.batch === axes.channel) channelsLastPermutation(name, axes, 3);
  return axes;
}

/**
 * A global pool over every axis but the batch and channel ones, on [N, L, C] or [N, H, W, C] (or
 * any layout given by batchAxis / channelAxis): the output keeps the batch and channel axes in
 * their order ([N, C] for batch before channel). Its kernel rule does not depend on the layout
 * (models/layout.ts).
 */
function globalPool(kind: 'GlobalAvgPool' | 'GlobalSumPool', opts: AxisOptions): KernelLayer<Record<string, never>, Tensor> {
  const name = kind;
  const axes = checkedAxisOptions(name, opts);
  const layout = axes === CHANNELS_LAST ? '[N, L, C] or [N, H, W, C]' : `rank 3 or 4 with batchAxis ${axes.batch}, channelAxis ${axes.channel}`;
  const checkRank = (rank: number, shape: string) => {
    if (rank !== 3 && rank !== 4) throw new Error(`${name}: expected input shape ${layout} (rank 3 or 4), got ${shape}`);
  };
  // The spatial axes, and the output shape: batch and channel axes in their order.
  const split = (rank: number) => {
    const perm = channelsLastPermutation(name, axes, rank) ?? Array.from({ length: rank }, (_, i) => i);
    return { spatialAxes: perm.slice(1, -1), kept: [perm[0], perm[rank - 1]].sort((a, b) => a - b) };
  };
  return withKernel({
    name,
    hyper: Object.freeze({}),
    inputAxes: axes,
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      if (!Array.isArray(inputShape) || !isSingleShape(inputShape)) checkInputShape(name, inputShape, 4, layout);
      const s = inputShape as readonly number[];
      checkRank(s.length, formatShapeTree(s));
      checkDims(name, s, axes.batch);
      return { params: null, outputShape: split(s.length).kept.map((a) => s[a]) };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      if (!(xIn instanceof tg.Tensor)) checkInputTensor(name, xIn, 4, layout);
      const x = xIn as Tensor;
      checkRank(x.rank, `[${x.shape.join(',')}]`);
      const { spatialAxes } = split(x.rank);
      return kind === 'GlobalAvgPool' ? tg.mean(x, spatialAxes) : tg.sum(x, spatialAxes);
    },
  }, kind === 'GlobalAvgPool' ? globalAvgPoolRule(name) : globalSumPoolRule(name));
}

/**
 * Mean over all spatial positions: [N, H, W, C] -> [N, C], [N, L, C] -> [N, C] (stax's
 * batch_axis / channel_axis as options, e.g. { channelAxis: 1 } for NCHW).
 * @example serial(Conv(64, [3, 3], { padding: 'SAME' }), Relu(), GlobalAvgPool(), Dense(10))
 */
export function GlobalAvgPool(opts: AxisOptions = {}): KernelLayer<Record<string, never>, Tensor> {
  return globalPool('GlobalAvgPool', opts);
}

/**
 * Sum over all spatial positions: [N, H, W, C] -> [N, C], [N, L, C] -> [N, C], as
 * stax.GlobalSumPool (options as GlobalAvgPool's). Its kernel needs every position pair, which
 * `spatial: 'auto'` (the default) picks.
 * @example serial(Conv(64, [3, 3], { padding: 'SAME' }), Relu(), GlobalSumPool(), Dense(10))
 */
export function GlobalSumPool(opts: AxisOptions = {}): KernelLayer<Record<string, never>, Tensor> {
  return globalPool('GlobalSumPool', opts);
}
