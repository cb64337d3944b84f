/**
 * Layers that rescale activations: LayerNorm (by their own statistics) and Dropout (by random
 * masks), after stax, with their infinite-width kernel rules (models/kernels/normalization.ts).
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import { checkDims, checkInputTensor, formatShapeTree, isSingleShape, type Activation, type ApplyOptions, type InitResult, type Params, type ShapeTree } from './layer.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import { dropoutRule, layerNormRule, resolveNormAxes } from './kernels/normalization.ts';
import { identityRule } from './kernels/rules.ts';
import { axesOption, type AxisOptions } from './layout.ts';

const LAYOUTS = '[N, features], [N, L, C] or [N, H, W, C]';

/** One input shape of rank 2 ([N, features]), 3 ([N, L, C]) or 4 (NHWC); names the layer otherwise. */
function checkDenseOrImage(name: string, inputShape: ShapeTree, batchAxis: number): readonly number[] {
  if (!Array.isArray(inputShape) || !isSingleShape(inputShape) || inputShape.length < 2 || inputShape.length > 4) {
    throw new Error(`${name}: expected one input shape ${LAYOUTS}, got ${Array.isArray(inputShape) ? formatShapeTree(inputShape) : String(inputShape)}`);
  }
  checkDims(name, inputShape, batchAxis);
  return inputShape;
}

export interface LayerNormHyper {
  readonly axis: readonly number[];
  readonly eps: number;
}

/** LayerNorm's options: stax's axis, eps, batch_axis and channel_axis. */
export interface LayerNormOptions extends AxisOptions {
  /** The normalized axes (default -1); must include the channel axis. */
  axis?: number | readonly number[];
  /** Added to the variance (default 1e-12). */
  eps?: number;
}

/**
 * (x - mean) / sqrt(var + eps) over `axis` (default -1, the channel axis; for images add spatial
 * axes, e.g. [1, 2, 3], for 1-D activations [N, L, C] [1, 2]), as stax.LayerNorm, without learned
 * scale or shift (as stax). The kernel rule needs a Gaussian input (a Dense / Conv right before)
 * and the channel axis among the axes; with channels first (stax's channel_axis, e.g.
 * { channelAxis: 1, axis: [1, 2, 3] } on NCHW) the same rule applies.
 * @example serial(Dense(512), LayerNorm(), Relu(), Dense(1))
 */
export function LayerNorm(opts: LayerNormOptions = {}): KernelLayer<LayerNormHyper, Tensor> {
  const name = 'LayerNorm';
  if (opts === null || typeof opts !== 'object') throw new Error(`${name}: options must be an object, got ${String(opts)}`);
  const known = ['axis', 'eps', 'batchAxis', 'channelAxis'];
  for (const key of Object.keys(opts)) if (!known.includes(key)) throw new Error(`${name}: unknown option '${key}'`);
  const layout = axesOption(name, opts);
  const axis = Object.freeze(opts.axis === undefined ? [-1] : typeof opts.axis === 'number' ? [opts.axis] : [...opts.axis]);
  const eps = opts.eps ?? 1e-12;
  if (!(Number.isFinite(eps) && eps >= 0)) throw new Error(`${name}: eps must be a finite number >= 0, got ${eps}`);
  if (axis.length === 0) throw new Error(`${name}: axis must name at least the channel axis (-1)`);
  return withKernel({
    name,
    hyper: Object.freeze({ axis, eps }),
    inputAxes: layout,
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      const s = checkDenseOrImage(name, inputShape, layout.batch);
      resolveNormAxes(name, axis, s.length, layout);
      return { params: null, outputShape: [...s] };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      if (!(xIn instanceof tg.Tensor)) checkInputTensor(name, xIn, 2, LAYOUTS);
      const x = xIn as Tensor;
      if (x.rank < 2 || x.rank > 4) throw new Error(`${name}: expected input ${LAYOUTS}, got [${x.shape.join(',')}]`);
      const axes = resolveNormAxes(name, axis, x.rank, layout);
      return tg.tidy(() => {
        const centered = tg.sub(x, tg.mean(x, axes, true));
        const variance = tg.mean(tg.mul(centered, centered), axes, true);
        return tg.div(centered, tg.sqrt(tg.add(variance, eps)));
      });
    },
  }, layerNormRule(name, axis, eps, layout));
}

export interface DropoutHyper {
  readonly rate: number;
  readonly mode: 'train' | 'test';
}

/**
 * Dropout as stax.Dropout(rate, mode): `rate` is the KEEP probability (stax's meaning; rate = 1
 * keeps every unit); kept units are scaled by 1 / rate. In 'train' mode (default) apply needs a
 * key, `apply(params, x, { key })`, and is a deterministic function of it (serial / parallel
 * split the key per layer); `{ mode: 'test' }` in apply, or the layer built with mode 'test', is
 * the identity. The kernel rule is the mode the layer was built with: in 'train' the expectation
 * over masks (the entries of a unit with itself scaled by 1 / rate), in 'test' the identity.
 * @example
 * const net = serial(Dense(512), Relu(), Dropout(0.9), Dense(1));
 * const y = net.apply(params, x, { key: tg.key(3) });   // a fresh key per step when training
 * const yEval = net.apply(params, x, { mode: 'test' });  // no dropout
 */
export function Dropout(rate: number, opts: { mode?: 'train' | 'test' } = {}): KernelLayer<DropoutHyper, Tensor> {
  const name = `Dropout(${rate})`;
  if (typeof rate !== 'number' || !(rate > 0 && rate <= 1)) throw new Error(`${name}: rate (the keep probability, as in stax) must be in (0, 1], got ${String(rate)}`);
  const mode = opts.mode ?? 'train';
  if (mode !== 'train' && mode !== 'test') throw new Error(`${name}: mode must be 'train' or 'test', got ${JSON.stringify(mode)}`);
  return withKernel({
    name: 'Dropout',
    hyper: Object.freeze({ rate, mode }),
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      if (!Array.isArray(inputShape) || !isSingleShape(inputShape) || inputShape.length < 1) {
        throw new Error(`${name}: expected one input shape [N, ...], got ${Array.isArray(inputShape) ? formatShapeTree(inputShape) : String(inputShape)}`);
      }
      // Elementwise: the batch axis may sit anywhere (stax's batch_axis of the layers around it).
      checkDims(name, inputShape, 'any');
      return { params: null, outputShape: [...inputShape] };
    },
    apply(_params: Params, xIn: Activation, applyOpts?: ApplyOptions): Tensor {
      if (!(xIn instanceof tg.Tensor)) checkInputTensor(name, xIn, 1, '[N, ...]');
      const x = xIn as Tensor;
      const m = applyOpts?.mode ?? mode;
      if (m !== 'train' && m !== 'test') throw new Error(`${name}: apply's mode must be 'train' or 'test', got ${JSON.stringify(m)}`);
      if (m === 'test' || rate === 1) return x;
      const key = applyOpts?.key;
      if (key === undefined) throw new Error(`${name}: apply in 'train' mode needs a key: apply(params, x, { key }) (or { mode: 'test' } for no dropout)`);
      return tg.tidy(() => {
        const keep = tg.less(tg.uniform(key, x.shape, x.dtype, 0, 1, x.backend), rate);
        return tg.mul(x, tg.mul(keep, 1 / rate));
      });
    },
  }, mode === 'train' ? dropoutRule(name, rate) : identityRule());
}
