/**
 * Composite ops built from primitives (so they differentiate in both modes for free). Each runs
 * in a tidy scope and returns only its result: called outside any tidy, it leaves no
 * intermediates behind that the caller could not dispose. Inside a trace the intermediates are
 * pinned, so the tidy defers their disposal until the trace is released.
 */
import { tidy } from './memory.ts';
import { windowOutputLength, windowPadding, type WindowPadding } from './conv-params.ts';
import * as ops from './ops.ts';
import { describeValue, formatShape, normalizeAxes, shapesEqual } from './shape.ts';
import { Tensor } from './tensor.ts';

function need(op: string, x: unknown, what = 'the input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${what} must be a tensor, got ${describeValue(x)}`);
}

/**
 * max(x, 0) with relu'(0) = 0: x where x > 0 or x is NaN, else 0. A select, not x * (x > 0),
 * which gives NaN at -Infinity (-Infinity * 0).
 */
export function relu(x: Tensor): Tensor {
  need('relu', x);
  return tidy(() => ops.where(ops.lessEqual(x, 0), 0, x));
}

export function sigmoid(x: Tensor): Tensor {
  need('sigmoid', x);
  // 0.5 (1 + tanh(x/2)) never overflows, unlike 1 / (1 + exp(-x)).
  return tidy(() => ops.mul(0.5, ops.add(1, ops.tanh(ops.mul(x, 0.5)))));
}

/**
 * log(sum(exp(x))) over axes, shifted by the (non-differentiated) max so it never overflows.
 * Where the max is infinite the shift is 0 instead (as in JAX): -Infinity - -Infinity would be
 * NaN, while the unshifted sum gives the right -Infinity (all terms -Infinity) or +Infinity.
 */
export function logsumexp(x: Tensor, axes: number | readonly number[] = -1, keepdims = false): Tensor {
  need('logsumexp', x);
  const ax = normalizeAxes('logsumexp', axes, x.rank, x.shape);
  return tidy(() => {
    const max = ops.max(x, ax, true);
    // m - m is 0 exactly when m is finite (NaN for infinities and NaN).
    const m = ops.stopGradient(ops.where(ops.equal(ops.sub(max, max), 0), max, 0));
    const s = ops.add(ops.log(ops.sum(ops.exp(ops.sub(x, m)), ax, true)), m);
    return keepdims ? s : ops.squeeze(s, ax);
  });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  need('logSoftmax', x);
  return tidy(() => ops.sub(x, logsumexp(x, axis, true)));
}

export function softmax(x: Tensor, axis = -1): Tensor {
  need('softmax', x);
  return tidy(() => ops.exp(logSoftmax(x, axis)));
}

/**
 * How a squared-error loss is scaled; the NTK time constant depends on it:
 * 'sum/2'  = 1/2 sum (f - y)^2 (the paper), 'mean/2' = 1/2 mean (f - y)^2 (neural-tangents),
 * 'mean'   = mean (f - y)^2.
 */
export type MseScaling = 'sum/2' | 'mean/2' | 'mean';

export function mse(pred: Tensor, target: Tensor, scaling: MseScaling = 'sum/2'): Tensor {
  need('mse', pred, 'the prediction');
  need('mse', target, 'the target');
  if (!shapesEqual(pred.shape, target.shape)) {
    throw new Error(`mse: prediction ${formatShape(pred.shape)} and target ${formatShape(target.shape)} differ (no broadcasting in losses)`);
  }
  const factor = { 'sum/2': 0.5, 'mean/2': 0.5 / pred.size, mean: 1 / pred.size }[scaling];
  if (factor === undefined) throw new Error(`mse: unknown scaling '${String(scaling)}' (sum/2, mean/2 or mean)`);
  return tidy(() => ops.mul(ops.sum(ops.square(ops.sub(pred, target))), factor));
}

/**
 * Softmax cross-entropy of logits [N, k] against targets [N, k] (one-hot or probabilities),
 * averaged over the batch ('mean') or summed ('sum'); computed through logsumexp.
 */
export function softmaxCrossEntropy(logits: Tensor, targets: Tensor, reduction: 'mean' | 'sum' = 'mean'): Tensor {
  need('softmaxCrossEntropy', logits, 'the logits');
  need('softmaxCrossEntropy', targets, 'the targets');
  if (!shapesEqual(logits.shape, targets.shape) || logits.rank !== 2) {
    throw new Error(`softmaxCrossEntropy: logits ${formatShape(logits.shape)} and targets ${formatShape(targets.shape)} must both be [N, k]`);
  }
  return tidy(() => {
    const total = ops.neg(ops.sum(ops.mul(targets, logSoftmax(logits, -1))));
    return reduction === 'sum' ? total : ops.div(total, logits.shape[0]);
  });
}

/**
 * Average pooling over NHWC windows (padding counts as zeros in the average, as in
 * neural-tangents' AvgPool); a sum of strided slices, so its adjoint is exact.
 */
export function avgPool(
  x: Tensor,
  window: readonly [number, number],
  strides: readonly [number, number] = window,
  padding: WindowPadding = 'VALID',
): Tensor {
  need('avgPool', x);
  if (x.rank !== 4) throw new Error(`avgPool: expected NHWC input, got ${formatShape(x.shape)}`);
  return tidy(() => avgPoolSum(x, window, strides, padding));
}

function avgPoolSum(x: Tensor, window: readonly [number, number], strides: readonly [number, number], padding: 'VALID' | 'SAME'): Tensor {
  const [n, h, w, c] = x.shape;
  const ph = windowPadding(padding, h, window[0], strides[0]);
  const pw = windowPadding(padding, w, window[1], strides[1]);
  const padded = ops.pad(x, [0, ph[0], pw[0], 0], [0, ph[1], pw[1], 0]);
  const oh = windowOutputLength(h, window[0], strides[0], 1, padding);
  const ow = windowOutputLength(w, window[1], strides[1], 1, padding);
  if (oh < 1 || ow < 1) throw new Error(`avgPool: window [${window}] does not fit input ${formatShape(x.shape)}`);
  let acc: Tensor | null = null;
  for (let i = 0; i < window[0]; i++) {
    for (let j = 0; j < window[1]; j++) {
      const part = ops.slice(padded, [0, i, j, 0], [n, i + (oh - 1) * strides[0] + 1, j + (ow - 1) * strides[1] + 1, c], [1, strides[0], strides[1], 1]);
      acc = acc === null ? part : ops.add(acc, part);
    }
  }
  return ops.div(acc!, window[0] * window[1]);
}

/** Mean over the spatial axes of NHWC input: [N, H, W, C] -> [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  need('globalAvgPool', x);
  if (x.rank !== 4) throw new Error(`globalAvgPool: expected NHWC input, got ${formatShape(x.shape)}`);
  return ops.mean(x, [1, 2]);
}
