/**
 * Parameter-free elementwise layers. Their params are `null`; the output shape is the input
 * shape. Each keeps its hyper-parameters on the layer object so that an infinite-width kernel
 * rule (PAPER.md section 6: T and Tdot of the nonlinearity) can be attached later by name.
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import { checkDims, checkInputTensor, formatShapeTree, isSingleShape, type Activation, type InitResult, type Layer, type Params, type ShapeTree } from './layer.ts';

export type ElementwiseFn = (x: Tensor) => Tensor;

/** Builds a parameter-free layer applying `fn` to one tensor of any rank >= 1; `label` names it in errors. */
function elementwiseLayer<H>(layerName: string, hyper: H, fn: ElementwiseFn, label = layerName): Layer<H, Tensor> {
  const name = label;
  return {
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
      const y = fn(x);
      // A user-supplied fn must stay elementwise: a shape change would break the kernel rules
      // (and the declared outputShape), so fail here rather than downstream.
      if (!(y instanceof tg.Tensor) || y.shape.length !== x.shape.length || y.shape.some((d, i) => d !== x.shape[i])) {
        throw new Error(`${name}: the function must return a tensor of the input's shape [${x.shape.join(',')}], got ${y instanceof tg.Tensor ? `[${y.shape.join(',')}]` : typeof y}`);
      }
      return y;
    },
  };
}

/** max(x, 0). @example serial(Dense(512), Relu(), Dense(1)) */
export function Relu(): Layer<Record<string, never>, Tensor> {
  return elementwiseLayer('Relu', Object.freeze({}), tg.relu);
}

/** tanh(x). @example serial(Dense(512), Tanh(), Dense(1)) */
export function Tanh(): Layer<Record<string, never>, Tensor> {
  return elementwiseLayer('Tanh', Object.freeze({}), tg.tanh);
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
export function Erf(opts: { a?: number; b?: number; c?: number } = {}): Layer<ErfHyper, Tensor> {
  const hyper: ErfHyper = Object.freeze({ a: opts.a ?? 1, b: opts.b ?? 1, c: opts.c ?? 0 });
  for (const [k, v] of Object.entries(hyper)) if (!Number.isFinite(v)) throw new Error(`Erf: ${k} must be a finite number, got ${v}`);
  const { a, b, c } = hyper;
  // Skip the trivial multiplications so the default layer records exactly one erf node.
  const fn: ElementwiseFn = (x) => {
    let y = tg.erf(b === 1 ? x : tg.mul(x, b));
    if (a !== 1) y = tg.mul(y, a);
    return c === 0 ? y : tg.add(y, c);
  };
  return elementwiseLayer('Erf', hyper, fn);
}

/** The identity (e.g. the shortcut branch of a residual block). @example parallel(main, Identity()) */
export function Identity(): Layer<Record<string, never>, Tensor> {
  return elementwiseLayer('Identity', Object.freeze({}), (x) => x);
}

export interface ElementwiseHyper {
  readonly fn: ElementwiseFn;
  readonly fnName: string;
}

/**
 * A user-supplied elementwise nonlinearity built from differentiable engine ops.
 * @example const Softplus = Elementwise((x) => tg.log1p(tg.exp(x)), 'softplus');
 */
export function Elementwise(fn: ElementwiseFn, fnName: string): Layer<ElementwiseHyper, Tensor> {
  if (typeof fn !== 'function') throw new Error(`Elementwise: fn must be a function of a tensor, got ${typeof fn}`);
  if (typeof fnName !== 'string' || fnName.length === 0) throw new Error('Elementwise: needs a non-empty name for the function');
  return elementwiseLayer('Elementwise', Object.freeze({ fn, fnName }), fn, `Elementwise(${fnName})`);
}
