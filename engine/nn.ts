/** Composite ops built from primitives (so they differentiate in both modes for free). */
import { windowOutputLength, windowPadding, type WindowPadding } from './conv-params.ts';
import * as ops from './ops.ts';
import { formatShape, normalizeAxes, shapesEqual } from './shape.ts';
import type { Tensor } from './tensor.ts';

/** max(x, 0) with relu'(0) = 0. */
export function relu(x: Tensor): Tensor {
  return ops.mul(x, ops.greater(x, 0));
}

export function sigmoid(x: Tensor): Tensor {
  // 0.5 (1 + tanh(x/2)) never overflows, unlike 1 / (1 + exp(-x)).
  return ops.mul(0.5, ops.add(1, ops.tanh(ops.mul(x, 0.5))));
}

/** log(sum(exp(x))) over axes, shifted by the (non-differentiated) max so it never overflows. */
export function logsumexp(x: Tensor, axes: number | readonly number[] = -1, keepdims = false): Tensor {
  const ax = normalizeAxes('logsumexp', axes, x.rank, x.shape);
  const m = ops.stopGradient(ops.max(x, ax, true));
  const s = ops.add(ops.log(ops.sum(ops.exp(ops.sub(x, m)), ax, true)), m);
  return keepdims ? s : ops.squeeze(s, ax);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return ops.sub(x, logsumexp(x, axis, true));
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return ops.exp(logSoftmax(x, axis));
}

/**
 * How a squared-error loss is scaled; the NTK time constant depends on it:
 * 'sum/2'  = 1/2 sum (f - y)^2 (the paper), 'mean/2' = 1/2 mean (f - y)^2 (neural-tangents),
 * 'mean'   = mean (f - y)^2.
 */
export type MseScaling = 'sum/2' | 'mean/2' | 'mean';

export function mse(pred: Tensor, target: Tensor, scaling: MseScaling = 'sum/2'): Tensor {
  if (!shapesEqual(pred.shape, target.shape)) {
    throw new Error(`mse: prediction ${formatShape(pred.shape)} and target ${formatShape(target.shape)} differ (no broadcasting in losses)`);
  }
  const sq = ops.sum(ops.square(ops.sub(pred, target)));
  switch (scaling) {
    case 'sum/2': return ops.mul(sq, 0.5);
    case 'mean/2': return ops.mul(sq, 0.5 / pred.size);
    case 'mean': return ops.mul(sq, 1 / pred.size);
    default: throw new Error(`mse: unknown scaling '${String(scaling)}' (sum/2, mean/2 or mean)`);
  }
}

/**
 * Softmax cross-entropy of logits [N, k] against targets [N, k] (one-hot or probabilities),
 * averaged over the batch ('mean') or summed ('sum'); computed through logsumexp.
 */
export function softmaxCrossEntropy(logits: Tensor, targets: Tensor, reduction: 'mean' | 'sum' = 'mean'): Tensor {
  if (!shapesEqual(logits.shape, targets.shape) || logits.rank !== 2) {
    throw new Error(`softmaxCrossEntropy: logits ${formatShape(logits.shape)} and targets ${formatShape(targets.shape)} must both be [N, k]`);
  }
  const total = ops.neg(ops.sum(ops.mul(targets, logSoftmax(logits, -1))));
  return reduction === 'sum' ? total : ops.div(total, logits.shape[0]);
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
  if (x.rank !== 4) throw new Error(`avgPool: expected NHWC input, got ${formatShape(x.shape)}`);
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
  if (x.rank !== 4) throw new Error(`globalAvgPool: expected NHWC input, got ${formatShape(x.shape)}`);
  return ops.mean(x, [1, 2]);
}
