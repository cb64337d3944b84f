/**
 * Elementwise primitives: unary math, broadcasting binary arithmetic and comparisons, where, cast.
 * Unary rules are the tangent times a derivative factor, so one table row defines both modes.
 * int32 operands are accepted by add, sub, mul, the comparisons, cast, identity and stopGradient;
 * the others refuse them in their shape rule (requireFloat).
 */
import { isFloat, type DType } from '../dtype.ts';
import * as ops from '../ops.ts';
import { requireFloat, zeroJvp, zeroVjp, type Abstract, type Primitive } from '../primitive.ts';
import { broadcastShapes, formatShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

function sameShape(inputs: readonly Abstract[]): Abstract {
  return { shape: inputs[0].shape, dtype: inputs[0].dtype };
}

function sameFloatShape(name: string): (inputs: readonly Abstract[]) => Abstract {
  return (inputs) => {
    requireFloat(name, inputs);
    return sameShape(inputs);
  };
}

/** derivative(a, out) is the factor df/da, or null when it is identically zero. */
function unary<N extends string>(name: N, derivative: (a: Tensor, out: Tensor) => Tensor | null): Primitive<undefined, N> {
  return {
    name,
    shapeRule: sameFloatShape(name),
    jvp([a], [t], _p, out) {
      if (t === null) return null;
      const d = derivative(a, out);
      return d === null ? null : ops.mul(t!, d);
    },
    vjp(ct, [a], _p, out) {
      const d = derivative(a, out);
      return [d === null ? null : ops.mul(ct, d)];
    },
  };
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

export const Neg: Primitive<undefined, 'neg'> = {
  name: 'neg',
  shapeRule: sameFloatShape('neg'),
  jvp: (_x, [t]) => (t === null ? null : ops.neg(t)),
  vjp: (ct) => [ops.neg(ct)],
};
export const Exp = unary('exp', (_a, out) => out);
export const Log = unary('log', (a) => ops.reciprocal(a));
export const Sqrt = unary('sqrt', (_a, out) => ops.div(0.5, out));
export const Tanh = unary('tanh', (_a, out) => ops.sub(1, ops.mul(out, out)));
export const Erf = unary('erf', (a) => ops.mul(TWO_OVER_SQRT_PI, ops.exp(ops.neg(ops.mul(a, a)))));
export const Abs = unary('abs', (a) => ops.sign(a));
export const Sign = unary('sign', () => null);
export const Sin = unary('sin', (a) => ops.cos(a));
export const Cos = unary('cos', (a) => ops.neg(ops.sin(a)));
export const Log1p = unary('log1p', (a) => ops.reciprocal(ops.add(a, 1)));
export const Expm1 = unary('expm1', (_a, out) => ops.add(out, 1));
/** d acos(a) = -1 / sqrt(1 - a^2): infinite at a = +-1, where callers that differentiate must stay inside. */
export const Acos = unary('acos', (a) => ops.neg(ops.reciprocal(ops.sqrt(ops.mul(ops.sub(1, a), ops.add(1, a))))));
/** d asin(a) = 1 / sqrt(1 - a^2), written (1 - a)(1 + a) to keep digits near +-1. */
export const Asin = unary('asin', (a) => ops.reciprocal(ops.sqrt(ops.mul(ops.sub(1, a), ops.add(1, a)))));

export function binaryShapeRule(name: string, inputs: readonly Abstract[], int32 = false): Abstract {
  const [a, b] = inputs;
  if (!int32) requireFloat(name, inputs);
  if (a.dtype !== b.dtype) {
    throw new Error(`${name}: dtypes differ: ${a.dtype}${formatShape(a.shape)} and ${b.dtype}${formatShape(b.shape)} (cast one explicitly)`);
  }
  return { shape: broadcastShapes(name, a.shape, b.shape), dtype: a.dtype };
}

/** `int32`: the op is defined on int32 operands too (add, sub, mul, comparisons). */
function binary<N extends string>(name: N, rules: Pick<Primitive<undefined>, 'jvp' | 'vjp'>, int32 = false): Primitive<undefined, N> {
  return { name, shapeRule: (inputs) => binaryShapeRule(name, inputs, int32), ...rules };
}

/** Sum of optional terms; null stands for a symbolic zero. */
function addTerms(x: Tensor | null, y: Tensor | null): Tensor | null {
  if (x === null) return y;
  if (y === null) return x;
  return ops.add(x, y);
}

export const Add = binary('add', {
  jvp: (_x, [ta, tb]) => addTerms(ta, tb),
  vjp: (ct) => [ct, ct],
}, true);

export const Sub = binary('sub', {
  jvp: (_x, [ta, tb]) => (tb === null ? ta : ta === null ? ops.neg(tb) : ops.sub(ta, tb)),
  vjp: (ct, _x, _p, _o, needed) => [ct, needed[1] ? ops.neg(ct) : null],
}, true);

export const Mul = binary('mul', {
  jvp: ([a, b], [ta, tb]) => addTerms(ta && ops.mul(ta, b), tb && ops.mul(a, tb)),
  vjp: (ct, [a, b], _p, _o, needed) => [needed[0] ? ops.mul(ct, b) : null, needed[1] ? ops.mul(ct, a) : null],
}, true);

export const Div = binary('div', {
  // d(a/b) = da/b - (a/b) db/b
  jvp: ([, b], [ta, tb], _p, out) => {
    const num = tb === null ? ta : ta === null ? ops.neg(ops.mul(out, tb)) : ops.sub(ta, ops.mul(out, tb));
    return num === null ? null : ops.div(num, b);
  },
  vjp: (ct, [, b], _p, out, needed) => {
    const ga = ops.div(ct, b);
    return [needed[0] ? ga : null, needed[1] ? ops.neg(ops.mul(ga, out)) : null];
  },
});

/** Ties split the derivative evenly (as JAX does), which keeps max(a, a) = a differentiable. */
function selectMask(cmp: (a: Tensor, b: Tensor) => Tensor, a: Tensor, b: Tensor): Tensor {
  return ops.add(cmp(a, b), ops.mul(ops.equal(a, b), 0.5));
}

function extremum<N extends string>(name: N, cmp: (a: Tensor, b: Tensor) => Tensor): Primitive<undefined, N> {
  return binary(name, {
    jvp: ([a, b], [ta, tb]) => {
      const ma = selectMask(cmp, a, b);
      return addTerms(ta && ops.mul(ta, ma), tb && ops.mul(tb, ops.sub(1, ma)));
    },
    vjp: (ct, [a, b]) => {
      const ma = selectMask(cmp, a, b);
      return [ops.mul(ct, ma), ops.mul(ct, ops.sub(1, ma))];
    },
  });
}

export const Max = extremum('max', (a, b) => ops.greater(a, b));
export const Min = extremum('min', (a, b) => ops.less(a, b));

/** log(a) where a > 0 and 0 elsewhere, without a NaN in either branch (a NaN would leak through where's gradient). */
function safeLog(a: Tensor): Tensor {
  const positive = ops.greater(a, 0);
  return ops.where(positive, ops.log(ops.where(positive, a, 1)), 0);
}

export const Pow = binary('pow', {
  jvp: ([a, b], [ta, tb], _p, out) =>
    addTerms(ta && ops.mul(ta, ops.mul(b, ops.pow(a, ops.sub(b, 1)))), tb && ops.mul(tb, ops.mul(out, safeLog(a)))),
  vjp: (ct, [a, b], _p, out, needed) => [
    needed[0] ? ops.mul(ct, ops.mul(b, ops.pow(a, ops.sub(b, 1)))) : null,
    needed[1] ? ops.mul(ct, ops.mul(out, safeLog(a))) : null,
  ],
});

function comparison<N extends string>(name: N): Primitive<undefined, N> {
  return binary(name, { jvp: zeroJvp, vjp: zeroVjp }, true);
}

export const Greater = comparison('greater');
export const GreaterEqual = comparison('greaterEqual');
export const Less = comparison('less');
export const LessEqual = comparison('lessEqual');
export const Equal = comparison('equal');
export const NotEqual = comparison('notEqual');

/** where(cond, a, b): cond is nonzero -> a, else b; all three broadcast together. */
export const Where: Primitive<undefined, 'where'> = {
  name: 'where',
  shapeRule([c, a, b]) {
    requireFloat('where', [c, a, b]);
    if (a.dtype !== b.dtype || c.dtype !== a.dtype) {
      throw new Error(`where: dtypes differ: cond ${c.dtype}, a ${a.dtype}, b ${b.dtype}`);
    }
    const ab = broadcastShapes('where', a.shape, b.shape);
    return { shape: broadcastShapes('where', c.shape, ab), dtype: a.dtype };
  },
  jvp([c], [, ta, tb]) {
    if (ta === null && tb === null) return null;
    return ops.where(c, ta ?? 0, tb ?? 0);
  },
  vjp(ct, [c], _p, _o, needed) {
    return [null, needed[1] ? ops.where(c, ct, 0) : null, needed[2] ? ops.where(c, 0, ct) : null];
  },
};

/** To or from int32 the derivative is a symbolic zero (int32 is not differentiable). */
export const Cast: Primitive<{ dtype: DType }, 'cast'> = {
  name: 'cast',
  shapeRule: ([a], { dtype }) => ({ shape: a.shape, dtype }),
  jvp: ([a], [t], { dtype }) => (t === null || !isFloat(dtype) || !isFloat(a.dtype) ? null : ops.cast(t, dtype)),
  vjp: (ct, [a]) => [isFloat(a.dtype) && isFloat(ct.dtype) ? ops.cast(ct, a.dtype) : null],
};

/** Identity: wraps a trace's inputs so nested transformations see distinct variables. */
export const Identity: Primitive<undefined, 'identity'> = {
  name: 'identity',
  shapeRule: sameShape,
  jvp: (_x, [t]) => t,
  vjp: (ct) => [ct],
};

/** The value passes through; no derivative flows back (used for numerically stabilizing shifts). */
export const StopGradient: Primitive<undefined, 'stopGradient'> = {
  name: 'stopGradient',
  shapeRule: sameShape,
  jvp: zeroJvp,
  vjp: zeroVjp,
};
