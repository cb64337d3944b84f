/**
 * Parameter-free elementwise layers. Their params are `null`; the output shape is the input
 * shape. Each carries its infinite-width kernel rule (PAPER.md section 6: T and Tdot of the
 * nonlinearity; models/kernels/): closed forms for Relu and Erf, 2-D quadrature for Tanh and
 * Elementwise, pass-through for Identity.
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import { checkDims, checkInputTensor, formatShapeTree, isSingleShape, type Activation, type InitResult, type Params, type ShapeTree } from './layer.ts';
import { erfKernelMap, reluKernelMap } from './kernels/closed-forms.ts';
import { functionKernelMap, tanhKernelMap } from './kernels/quadrature.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import { elementwiseRule, identityRule } from './kernels/rules.ts';
import type { KernelRule } from './kernels/state.ts';

export type ElementwiseFn = (x: Tensor) => Tensor;

/**
 * Builds a parameter-free layer applying `fn` to one tensor of any rank >= 1, with its kernel
 * rule; `label` names it in errors.
 */
function elementwiseLayer<H>(layerName: string, hyper: H, fn: ElementwiseFn, rule: KernelRule, label = layerName): KernelLayer<H, Tensor> {
  const name = label;
  return withKernel({
    name: layerName,
    hyper,
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      if (!Array.isArray(inputShape) || !isSingleShape(inputShape) || inputShape.length < 1) {
        throw new Error(`${name}: expected one input shape [N, ...], got ${Array.isArray(inputShape) ? formatShapeTree(inputShape) : String(inputShape)}`);
      }
      checkDims(name, inputShape);
      return { params: null, outputShape: [...inputShape] };
    },
    apply(_params: Params, xIn: Activation): Tensor {
      if (!(xIn instanceof tg.Tensor)) checkInputTensor(name, xIn, 1, '[N, ...]');
      const x = xIn as Tensor;
      // In a tidy: a user-supplied fn's intermediates are freed.
      const y = tg.tidy(() => fn(x));
      // A user-supplied fn must stay elementwise: a shape change would break the kernel rules
      // (and the declared outputShape), so fail here rather than downstream.
      if (!(y instanceof tg.Tensor) || y.shape.length !== x.shape.length || y.shape.some((d, i) => d !== x.shape[i])) {
        throw new Error(`${name}: the function must return a tensor of the input's shape [${x.shape.join(',')}], got ${y instanceof tg.Tensor ? `[${y.shape.join(',')}]` : typeof y}`);
      }
      return y;
    },
  }, rule);
}

/** max(x, 0); kernel in closed form (arc-cosine). @example serial(Dense(512), Relu(), Dense(1)) */
export function Relu(): KernelLayer<Record<string, never>, Tensor> {
  return elementwiseLayer('Relu', Object.freeze({}), tg.relu, elementwiseRule('Relu', reluKernelMap()));
}

/**
 * tanh(x); kernel by 2-D quadrature (no closed form), with tanh' = 1 - tanh^2.
 * @example serial(Dense(512), Tanh(), Dense(1))
 */
export function Tanh(): KernelLayer<Record<string, never>, Tensor> {
  return elementwiseLayer('Tanh', Object.freeze({}), tg.tanh, (k, ctx) => elementwiseRule('Tanh', tanhKernelMap(ctx.quadrature))(k, ctx));
}

export interface ErfHyper {
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

/**
 * a * erf(b * x) + c, as stax.Erf (defaults a = 1, b = 1, c = 0: plain erf, whose kernel PAPER.md
 * section 6 gives in closed form).
 * @example serial(Dense(512), Erf(), Dense(1))
 */
export function Erf(opts: { a?: number; b?: number; c?: number } = {}): KernelLayer<ErfHyper, Tensor> {
  const hyper: ErfHyper = Object.freeze({ a: opts.a ?? 1, b: opts.b ?? 1, c: opts.c ?? 0 });
  for (const [k, v] of Object.entries(hyper)) if (!Number.isFinite(v)) throw new Error(`Erf: ${k} must be a finite number, got ${v}`);
  const { a, b, c } = hyper;
  // Skip the trivial multiplications so the default layer records exactly one erf node.
  const fn: ElementwiseFn = (x) => {
    let y = tg.erf(b === 1 ? x : tg.mul(x, b));
    if (a !== 1) y = tg.mul(y, a);
    return c === 0 ? y : tg.add(y, c);
  };
  return elementwiseLayer('Erf', hyper, fn, elementwiseRule('Erf', erfKernelMap(a, b, c)));
}

/** The identity (e.g. the shortcut branch of a residual block). @example parallel(main, Identity()) */
export function Identity(): KernelLayer<Record<string, never>, Tensor> {
  return elementwiseLayer('Identity', Object.freeze({}), (x) => x, identityRule());
}

export interface ElementwiseHyper {
  readonly fn: ElementwiseFn;
  readonly fnName: string;
}

/**
 * A user-supplied elementwise nonlinearity built from differentiable engine ops. Its kernel is
 * computed by 2-D quadrature, with phi' from the engine's reverse-mode gradient of fn.
 * @example const Softplus = Elementwise((x) => tg.log1p(tg.exp(x)), 'softplus');
 */
export function Elementwise(fn: ElementwiseFn, fnName: string): KernelLayer<ElementwiseHyper, Tensor> {
  if (typeof fn !== 'function') throw new Error(`Elementwise: fn must be a function of a tensor, got ${typeof fn}`);
  if (typeof fnName !== 'string' || fnName.length === 0) throw new Error('Elementwise: needs a non-empty name for the function');
  const label = `Elementwise(${fnName})`;
  const rule: KernelRule = (k, ctx) => elementwiseRule(label, functionKernelMap(label, fn, ctx.quadrature))(k, ctx);
  return elementwiseLayer('Elementwise', Object.freeze({ fn, fnName }), fn, rule, label);
}
