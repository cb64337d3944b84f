/**
 * Parameter-free elementwise layers. Their params are `null`; the output shape is the input
 * shape. Each carries its infinite-width kernel rule (PAPER.md section 6: T and Tdot of the
 * nonlinearity; models/kernels/): closed forms for Relu, ABRelu / LeakyRelu / Abs, Sign, Erf /
 * SigmoidLike, Gelu, Sin / Cos, Rbf, Exp, Gaussian and Hermite (stax's formulas, with stax's
 * parameter meanings), 2-D quadrature for Tanh, Elementwise and ElementwiseNumerical,
 * pass-through for Identity.
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import { checkDims, checkInputTensor, formatShapeTree, isSingleShape, type Activation, type InitResult, type Params, type ShapeTree } from './layer.ts';
import {
  abReluKernelMap,
  erfKernelMap,
  expKernelMap,
  gaussianKernelMap,
  geluKernelMap,
  hermiteKernelMap,
  rbfKernelMap,
  reluKernelMap,
  signKernelMap,
  sinKernelMap,
} from './kernels/closed-forms.ts';
import { functionKernelMap, quadratureKernelMap, tanhKernelMap } from './kernels/quadrature.ts';
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
      // Elementwise: the batch axis may sit anywhere (stax's batch_axis of the layers around it).
      checkDims(name, inputShape, 'any');
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

/** Throws unless every named hyper-parameter is a finite number; names the layer. */
function checkFinite(layer: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${layer}: ${k} must be a finite number, got ${String(v)}`);
}

export interface ABReluHyper {
  readonly a: number;
  readonly b: number;
}

/**
 * a min(x, 0) + b max(x, 0), as stax.ABRelu(a, b): slope a below 0, b above; kernel in closed form
 * (closed-forms.ts abReluKernelMap).
 * @example serial(Dense(512), ABRelu(-0.5, 2), Dense(1))
 */
export function ABRelu(a: number, b: number): KernelLayer<ABReluHyper, Tensor> {
  checkFinite('ABRelu', { a, b });
  const fn: ElementwiseFn = (x) => tg.add(tg.mul(tg.minimum(x, 0), a), tg.mul(tg.maximum(x, 0), b));
  return elementwiseLayer('ABRelu', Object.freeze({ a, b }), fn, elementwiseRule(`ABRelu(${a}, ${b})`, abReluKernelMap(a, b)));
}

/**
 * alpha min(x, 0) + max(x, 0), as stax.LeakyRelu(alpha) (= ABRelu(alpha, 1)).
 * @example serial(Dense(512), LeakyRelu(0.1), Dense(1))
 */
export function LeakyRelu(alpha: number): KernelLayer<{ readonly alpha: number }, Tensor> {
  checkFinite('LeakyRelu', { alpha });
  const fn: ElementwiseFn = (x) => tg.add(tg.mul(tg.minimum(x, 0), alpha), tg.maximum(x, 0));
  return elementwiseLayer('LeakyRelu', Object.freeze({ alpha }), fn, elementwiseRule(`LeakyRelu(${alpha})`, abReluKernelMap(alpha, 1, `LeakyRelu(${alpha})`)));
}

/** |x|, as stax.Abs (= ABRelu(-1, 1)). @example serial(Dense(512), Abs(), Dense(1)) */
export function Abs(): KernelLayer<Record<string, never>, Tensor> {
  return elementwiseLayer('Abs', Object.freeze({}), tg.abs, elementwiseRule('Abs', abReluKernelMap(-1, 1, 'Abs')));
}

/**
 * sign(x), as stax.Sign: NNGP (2 / pi) asin(correlation); its derivative is 0 almost everywhere,
 * so no NTK passes through it (the NTK after it is 0 until the next affine layer adds its own).
 * @example serial(Dense(512), Sign(), Dense(1))
 */
export function Sign(): KernelLayer<Record<string, never>, Tensor> {
  return elementwiseLayer('Sign', Object.freeze({}), tg.sign, elementwiseRule('Sign', signKernelMap()));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, as stax.Gelu. `approximate: true` computes the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) in apply only (as stax: the
 * kernel is the exact Gelu's, in closed form).
 * @example serial(Dense(512), Gelu(), Dense(1))
 */
export function Gelu(opts: { approximate?: boolean } = {}): KernelLayer<{ readonly approximate: boolean }, Tensor> {
  const approximate = opts.approximate ?? false;
  if (typeof approximate !== 'boolean') throw new Error(`Gelu: approximate must be a boolean, got ${String(approximate)}`);
  const fn: ElementwiseFn = approximate
    ? (x) => tg.mul(tg.mul(x, 0.5), tg.add(1, tg.tanh(tg.mul(tg.add(x, tg.mul(tg.mul(tg.mul(x, x), x), 0.044715)), SQRT_2_OVER_PI))))
    : (x) => tg.mul(tg.mul(x, 0.5), tg.add(1, tg.erf(tg.mul(x, Math.SQRT1_2))));
  return elementwiseLayer('Gelu', Object.freeze({ approximate }), fn, elementwiseRule('Gelu', geluKernelMap()));
}

export interface PeriodicHyper {
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

/** a * g(b x + c) with the trivial operations skipped. */
function affineOf(g: ElementwiseFn, a: number, b: number, c: number): ElementwiseFn {
  return (x) => {
    const inner = b === 1 ? x : tg.mul(x, b);
    const y = g(c === 0 ? inner : tg.add(inner, c));
    return a === 1 ? y : tg.mul(y, a);
  };
}

/**
 * a sin(b x + c), as stax.Sin (defaults a = 1, b = 1, c = 0); kernel in closed form.
 * @example serial(Dense(512), Sin({ b: 2 }), Dense(1))
 */
export function Sin(opts: { a?: number; b?: number; c?: number } = {}): KernelLayer<PeriodicHyper, Tensor> {
  const hyper: PeriodicHyper = Object.freeze({ a: opts.a ?? 1, b: opts.b ?? 1, c: opts.c ?? 0 });
  checkFinite('Sin', { ...hyper });
  return elementwiseLayer('Sin', hyper, affineOf(tg.sin, hyper.a, hyper.b, hyper.c), elementwiseRule('Sin', sinKernelMap(hyper.a, hyper.b, hyper.c)));
}

/**
 * a cos(b x + c), as stax.Cos (= Sin(a, b, c + pi/2)); kernel in closed form.
 * @example serial(Dense(512), Cos(), Dense(1))
 */
export function Cos(opts: { a?: number; b?: number; c?: number } = {}): KernelLayer<PeriodicHyper, Tensor> {
  const hyper: PeriodicHyper = Object.freeze({ a: opts.a ?? 1, b: opts.b ?? 1, c: opts.c ?? 0 });
  checkFinite('Cos', { ...hyper });
  return elementwiseLayer('Cos', hyper, affineOf(tg.cos, hyper.a, hyper.b, hyper.c), elementwiseRule('Cos', sinKernelMap(hyper.a, hyper.b, hyper.c + Math.PI / 2, 'Cos')));
}

/**
 * sqrt(2) sin(sqrt(2 gamma) x + pi / 4), as stax.Rbf(gamma): after a Dense(W_std = 1) on inputs
 * x, x' of dimension d its NNGP is the RBF kernel exp(-gamma |x - x'|^2 / d).
 * @example serial(Dense(1), Rbf(0.5)) // kernel exp(-0.5 |x - x'|^2 / d)
 */
export function Rbf(gamma = 1): KernelLayer<{ readonly gamma: number }, Tensor> {
  checkFinite('Rbf', { gamma });
  if (!(gamma > 0)) throw new Error(`Rbf: gamma must be > 0, got ${gamma}`);
  return elementwiseLayer('Rbf', Object.freeze({ gamma }), affineOf(tg.sin, Math.SQRT2, Math.sqrt(2 * gamma), Math.PI / 4), elementwiseRule('Rbf', rbfKernelMap(gamma)));
}

/**
 * a exp(b x), as stax.Exp (defaults a = 1, b = 1); kernel in closed form.
 * @example serial(Dense(512), Exp({ b: 0.5 }), Dense(1))
 */
export function Exp(opts: { a?: number; b?: number } = {}): KernelLayer<{ readonly a: number; readonly b: number }, Tensor> {
  const hyper = Object.freeze({ a: opts.a ?? 1, b: opts.b ?? 1 });
  checkFinite('Exp', { ...hyper });
  return elementwiseLayer('Exp', hyper, affineOf(tg.exp, hyper.a, hyper.b, 0), elementwiseRule('Exp', expKernelMap(hyper.a, hyper.b)));
}

/**
 * a exp(b x^2), as stax.Gaussian (defaults a = 1, b = -1); kernel in closed form (finite for
 * b > 0 only while 2 b Var < 1).
 * @example serial(Dense(512), Gaussian(), Dense(1))
 */
export function Gaussian(opts: { a?: number; b?: number } = {}): KernelLayer<{ readonly a: number; readonly b: number }, Tensor> {
  const hyper = Object.freeze({ a: opts.a ?? 1, b: opts.b ?? -1 });
  checkFinite('Gaussian', { ...hyper });
  const { a, b } = hyper;
  const fn: ElementwiseFn = (x) => {
    const y = tg.exp(tg.mul(tg.mul(x, x), b));
    return a === 1 ? y : tg.mul(y, a);
  };
  return elementwiseLayer('Gaussian', hyper, fn, elementwiseRule('Gaussian', gaussianKernelMap(a, b)));
}

/**
 * 0.5 erf(x / 2.4020563531719796) + 0.5, as stax.Sigmoid_like (= Erf(0.5, 1 / 2.40..., 0.5), the
 * erf closest to the logistic sigmoid in squared error on [-5, 5]).
 * @example serial(Dense(512), SigmoidLike(), Dense(1))
 */
export function SigmoidLike(): KernelLayer<ErfHyper, Tensor> {
  return Erf({ a: 0.5, b: 1 / 2.4020563531719796, c: 0.5 });
}

/** Coefficients of He_n (probabilists' Hermite), lowest power first, n = 1..6. */
const HERMITE: readonly (readonly number[])[] = [
  [0, 1],
  [-1, 0, 1],
  [0, -3, 0, 1],
  [3, 0, -6, 0, 1],
  [0, 15, 0, -10, 0, 1],
  [-15, 0, 45, 0, -15, 0, 1],
];

/**
 * He_n(x) / sqrt(n!), the probabilists' Hermite polynomial of degree n (1..6) with unit norm
 * under N(0, 1), as stax.Hermite(n). Its kernel rule (NNGP s12^n, NTK factor n s12^(n-1)) assumes
 * unit-variance pre-activations, as stax's: normalize the inputs (|x|^2 / d = 1) and use Dense
 * with W_std = 1 and no bias before it.
 * @example serial(Dense(512), Hermite(2), Dense(1))
 */
export function Hermite(degree: number): KernelLayer<{ readonly degree: number }, Tensor> {
  if (!Number.isInteger(degree) || degree < 1 || degree > 6) throw new Error(`Hermite: degree must be an integer from 1 to 6, got ${degree}`);
  const coeffs = HERMITE[degree - 1];
  let factorial = 1;
  for (let i = 2; i <= degree; i++) factorial *= i;
  const norm = 1 / Math.sqrt(factorial);
  // Horner's rule on the normalized coefficients.
  const fn: ElementwiseFn = (x) => {
    let y = tg.mul(tg.onesLike(x), coeffs[degree] * norm);
    for (let i = degree - 1; i >= 0; i--) y = coeffs[i] === 0 ? tg.mul(y, x) : tg.add(tg.mul(y, x), coeffs[i] * norm);
    return y;
  };
  return elementwiseLayer('Hermite', Object.freeze({ degree }), fn, elementwiseRule(`Hermite(${degree})`, hermiteKernelMap(degree)));
}

export interface ElementwiseNumericalHyper {
  readonly fn: ElementwiseFn;
  readonly deg: number;
  readonly df: ElementwiseFn | null;
}

/**
 * An elementwise nonlinearity whose kernel is computed by deg x deg Gauss-Hermite quadrature, as
 * stax.ElementwiseNumerical(fn, deg, df): phi' is the user's `df` when given (e.g. for a function
 * whose engine gradient is not the one wanted), else the engine's reverse-mode derivative of fn.
 * The fixed rule runs on every backend (WebGPU included); it ignores the kernel call's
 * `quadrature` option. Smooth functions converge fast in deg (25 is stax's suggested start);
 * kinks converge slowly (use a closed-form layer where one exists).
 * @example ElementwiseNumerical((x) => tg.log1p(tg.exp(x)), 32, tg.sigmoid) // softplus, its derivative the sigmoid
 */
export function ElementwiseNumerical(fn: ElementwiseFn, deg: number, df?: ElementwiseFn): KernelLayer<ElementwiseNumericalHyper, Tensor> {
  if (typeof fn !== 'function') throw new Error(`ElementwiseNumerical: fn must be a function of a tensor, got ${typeof fn}`);
  if (!Number.isInteger(deg) || deg < 1) throw new Error(`ElementwiseNumerical: deg (Gauss-Hermite points) must be a positive integer, got ${deg}`);
  if (df !== undefined && typeof df !== 'function') throw new Error(`ElementwiseNumerical: df must be a function of a tensor or omitted, got ${typeof df}`);
  const label = `ElementwiseNumerical(deg=${deg})`;
  const map = df === undefined
    ? functionKernelMap(label, fn, deg)
    : quadratureKernelMap(label, (x, wantDot) => ({ f: checkSameShape(label, x, fn(x)), df: wantDot ? checkSameShape(label, x, df(x)) : null }), deg);
  return elementwiseLayer('ElementwiseNumerical', Object.freeze({ fn, deg, df: df ?? null }), fn, elementwiseRule(label, map), label);
}

/** y, when it is a tensor of x's shape; else an error naming the layer. */
function checkSameShape(layer: string, x: Tensor, y: unknown): Tensor {
  if (!(y instanceof tg.Tensor) || y.rank !== x.rank || y.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`${layer}: fn and df must be elementwise (got ${y instanceof tg.Tensor ? `shape [${y.shape.join(',')}]` : typeof y} for [${x.shape.join(',')}])`);
  }
  return y;
}
