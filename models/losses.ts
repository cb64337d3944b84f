/**
 * Losses as named objects. The scaling is part of the name on purpose: the NTK dynamics'
 * time constant depends on it (PAPER.md section 2: the paper's 1/2 sum over the training set
 * vs neural-tangents' 1/2 mean), so a learning rate means nothing without it. Each loss is a
 * callable `(pred, target) => scalar tensor` that also carries `kind` and `scaling`, which the
 * linearized dynamics (linearize/) can read to pick the matching closed form.
 */
import type { Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';

export type MseScaling = tg.MseScaling;
export type CrossEntropyReduction = 'mean' | 'sum';

export interface Loss {
  (pred: Tensor, target: Tensor): Tensor;
  readonly kind: 'mse' | 'softmaxCrossEntropy';
  /** For 'mse' an MseScaling, for 'softmaxCrossEntropy' the batch reduction. */
  readonly scaling: MseScaling | CrossEntropyReduction;
  /** e.g. "mse(sum/2)", for logs and progress output. */
  readonly label: string;
}

function makeLoss(fn: (pred: Tensor, target: Tensor) => Tensor, kind: Loss['kind'], scaling: Loss['scaling']): Loss {
  return Object.assign(fn, { kind, scaling, label: `${kind}(${scaling})` }) as Loss;
}

/**
 * Squared error with an explicit scaling (no default, by design):
 * 'sum/2' = 1/2 sum (f - y)^2 (the paper), 'mean/2' = 1/2 mean (f - y)^2 (neural-tangents),
 * 'mean' = mean (f - y)^2. The mean is over every element (batch and outputs).
 * @example const loss = mseLoss('sum/2'); loss(net.apply(params, x), y) // scalar tensor
 */
export function mseLoss(scaling: MseScaling): Loss {
  if (scaling !== 'sum/2' && scaling !== 'mean/2' && scaling !== 'mean') {
    throw new Error(`mseLoss: unknown scaling '${String(scaling)}' (expected 'sum/2', 'mean/2' or 'mean')`);
  }
  return makeLoss((pred, target) => tg.mse(pred, target, scaling), 'mse', scaling);
}

/**
 * Softmax cross-entropy of logits [N, k] against one-hot (or probability) targets [N, k],
 * averaged over the batch ('mean', default) or summed ('sum'). Its gradient w.r.t. the logits is
 * (softmax(logits) - targets) / N for 'mean' and softmax(logits) - targets for 'sum'.
 * @example const loss = crossEntropyLoss('mean'); loss(logits, onehot)
 */
export function crossEntropyLoss(reduction: CrossEntropyReduction = 'mean'): Loss {
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new Error(`crossEntropyLoss: unknown reduction '${String(reduction)}' (expected 'mean' or 'sum')`);
  }
  return makeLoss((logits, targets) => tg.softmaxCrossEntropy(logits, targets, reduction), 'softmaxCrossEntropy', reduction);
}
