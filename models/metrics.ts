/**
 * Classification accuracy from network outputs, on the device (no readback: the result is a
 * scalar tensor the caller reads when it wants).
 */
import type { Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';

/**
 * Fraction of examples classified correctly, as a scalar tensor of pred's dtype:
 * - targets [N, K] with K > 1 (one-hot or probabilities): argmax of pred equals argmax of the
 *   target (ties go to the first index; a NaN prediction counts as its first NaN class, as NumPy);
 * - targets [N, 1] or [N] (+-1 regression, as data/ encodes binary tasks): pred and target have
 *   the same side of 0.
 * @example const acc = await accuracy(net.apply(params, test.x), test.y).item();
 */
export function accuracy(pred: Tensor, target: Tensor): Tensor {
  if (pred.rank !== target.rank || pred.shape.some((d, i) => d !== target.shape[i]) || pred.rank < 1 || pred.rank > 2) {
    throw new Error(`accuracy: prediction [${pred.shape.join(',')}] and target [${target.shape.join(',')}] must both be [N, K] or [N]`);
  }
  if (pred.shape[0] === 0) throw new Error('accuracy: no examples');
  return tg.tidy(() => {
    const classes = pred.rank === 2 ? pred.shape[1] : 1;
    const hits = classes > 1
      ? tg.cast(tg.equal(tg.argmax(pred, -1), tg.argmax(target, -1)), pred.dtype)
      : tg.equal(tg.greater(pred, 0), tg.greater(target, 0));
    return tg.mean(hits);
  });
}
