/**
 * Parameter-free layers that change shape: Flatten, AvgPool / SumPool and GlobalAvgPool /
 * GlobalSumPool (NHWC). Kernel rules: AvgPool averages the position-pair kernel over the window
 * on each side (SumPool sums it), GlobalAvgPool over all position pairs (GlobalSumPool sums),
 * Flatten over the diagonal pairs (p, p) (models/kernels/rules.ts).
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import { checkDims, checkInputShape, checkInputTensor, formatShapeTree, isSingleShape, type Activation, type InitResult, type Params, type ShapeTree } from './layer.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import { avgPoolRule, flattenRule, globalAvgPoolRule, globalSumPoolRule, sumPoolRule } from './kernels/rules.ts';

/**
 * [N, d1, d2, ...] -> [N, d1 * d2 * ...] (row-major, so NHWC images flatten pixel by pixel).
 * @example serial(Conv(8, [3, 3]), Relu(), Flatten(), Dense(10))
 */
export function Flatten(): KernelLayer<Record<string, never>, Tensor> {
  const name = 'Flatten';
  return withKernel({
    name,
    hyper: Object.freeze({}),
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
  readonly window: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: 'SAME' | 'VALID';
}

/**
 * Average pooling over NHWC windows; zero padding counts in the average (stax's
 * normalize_edges = false). Defaults as stax: strides [1, 1] (note: tg.avgPool's own default
 * is strides = window), padding 'VALID'.
 * @example AvgPool([2, 2], [2, 2]) // [N, 8, 8, C] -> [N, 4, 4, C]
 */
export function AvgPool(
  window: readonly [number, number],
  strides: readonly [number, number] = [1, 1],
  padding: 'SAME' | 'VALID' = 'VALID',
): KernelLayer<AvgPoolHyper, Tensor> {
  return windowPool('AvgPool', window, strides, padding);
}

/**
 * Sum pooling over NHWC windows (zero padding adds nothing), as stax.SumPool: AvgPool times the
 * window size. Defaults strides [1, 1], padding 'VALID'. Its kernel needs every position pair,
 * which `spatial: 'auto'` (the default) picks.
 * @example SumPool([2, 2], [2, 2]) // [N, 8, 8, C] -> [N, 4, 4, C]
 */
export function SumPool(
  window: readonly [number, number],
  strides: readonly [number, number] = [1, 1],
  padding: 'SAME' | 'VALID' = 'VALID',
): KernelLayer<AvgPoolHyper, Tensor> {
  return windowPool('SumPool', window, strides, padding);
}

function windowPool(
  kind: 'AvgPool' | 'SumPool',
  window: readonly [number, number],
  strides: readonly [number, number],
  padding: 'SAME' | 'VALID',
): KernelLayer<AvgPoolHyper, Tensor> {
  const name = `${kind}([${Array.isArray(window) ? window.join(',') : String(window)}])`;
  const pair = (what: string, v: readonly number[]): readonly [number, number] => {
    if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new Error(`${name}: ${what} must be a pair of positive integers, got ${JSON.stringify(v)}`);
    }
    return Object.freeze([v[0], v[1]] as const);
  };
  if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${name}: padding must be 'SAME' or 'VALID', got ${JSON.stringify(padding)}`);
  const hyper: AvgPoolHyper = Object.freeze({ window: pair('window', window), strides: pair('strides', strides), padding });
  const layout = '[N, H, W, C] (NHWC)';
  return withKernel({
    name: kind,
    hyper,
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      const s = checkInputShape(name, inputShape, 4, layout);
      const out = [0, 1].map((i) => tg.windowOutputLength(s[1 + i], hyper.window[i], hyper.strides[i], 1, padding));
      if (out.some((d) => d < 1)) throw new Error(`${name}: the window does not fit input ${formatShapeTree(s)} with VALID padding`);
      return { params: null, outputShape: [s[0], out[0], out[1], s[3]] };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      const x = checkInputTensor(name, xIn, 4, layout);
      if (padding === 'VALID' && (x.shape[1] < hyper.window[0] || x.shape[2] < hyper.window[1])) {
        throw new Error(`${name}: the window does not fit input [${x.shape.join(',')}] with VALID padding`);
      }
      const mean = tg.avgPool(x, hyper.window, hyper.strides, padding);
      return kind === 'AvgPool' ? mean : tg.tidy(() => tg.mul(mean, hyper.window[0] * hyper.window[1]));
    },
  }, kind === 'AvgPool' ? avgPoolRule(name, hyper) : sumPoolRule(name, hyper));
}

/**
 * Mean over all spatial positions: [N, H, W, C] -> [N, C].
 * @example serial(Conv(64, [3, 3], { padding: 'SAME' }), Relu(), GlobalAvgPool(), Dense(10))
 */
export function GlobalAvgPool(): KernelLayer<Record<string, never>, Tensor> {
  const name = 'GlobalAvgPool';
  const layout = '[N, H, W, C] (NHWC)';
  return withKernel({
    name,
    hyper: Object.freeze({}),
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      const s = checkInputShape(name, inputShape, 4, layout);
      return { params: null, outputShape: [s[0], s[3]] };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      return tg.globalAvgPool(checkInputTensor(name, xIn, 4, layout));
    },
  }, globalAvgPoolRule(name));
}

/**
 * Sum over all spatial positions: [N, H, W, C] -> [N, C], as stax.GlobalSumPool. Its kernel needs
 * every position pair, which `spatial: 'auto'` (the default) picks.
 * @example serial(Conv(64, [3, 3], { padding: 'SAME' }), Relu(), GlobalSumPool(), Dense(10))
 */
export function GlobalSumPool(): KernelLayer<Record<string, never>, Tensor> {
  const name = 'GlobalSumPool';
  const layout = '[N, H, W, C] (NHWC)';
  return withKernel({
    name,
    hyper: Object.freeze({}),
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      const s = checkInputShape(name, inputShape, 4, layout);
      return { params: null, outputShape: [s[0], s[3]] };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      return tg.sum(checkInputTensor(name, xIn, 4, layout), [1, 2]);
    },
  }, globalSumPoolRule(name));
}
