/**
 * Closed-form Gaussian expectations of nonlinearities as engine ops (PAPER.md section 6): for
 * (u, v) ~ N(0, Sigma), Sigma = [[s11, s12], [s12, s22]],
 *   T(Sigma)    = E[phi(u) phi(v)]
 *   Tdot(Sigma) = E[phi'(u) phi'(v)]
 * evaluated elementwise on tensors s11, s12, s22 (broadcasting against each other), so the rules
 * run on any backend and are differentiable. Round-off may push |s12| past sqrt(s11 s22); the
 * maps clip it. Where a formula is singular (zero variance for ReLU, perfect correlation for
 * arccos) the rule is evaluated at a harmless stand-in and the limit is selected by `where`, so
 * gradients stay finite (the "double where": the discarded branch gets a zero cotangent, and the
 * stand-in keeps its own derivative finite).
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';

/** T and Tdot of one nonlinearity on tensors. */
export interface KernelMap {
  /** Name used in errors, e.g. 'Relu'. */
  readonly name: string;
  /** How T is computed, for reports. */
  readonly method: string;
  /**
   * Whether T(s11, s12, s22) = T(s22, s12, s11) to the last bit (the closed forms). When false
   * (quadrature, whose grid depends on the ordering), a symmetric block keeps one entry of each
   * mirror pair and copies it to the other, so the kernel is exactly symmetric.
   */
  readonly exactlySymmetric: boolean;
  expectations(s11: Tensor, s12: Tensor, s22: Tensor, wantDot: boolean): { t: Tensor; tdot: Tensor | null };
}

/** min(max(x, lo), hi) with tensor or number bounds. */
function clip(x: Tensor, lo: Tensor | number, hi: Tensor | number): Tensor {
  return tg.minimum(tg.maximum(x, lo), hi);
}

/**
 * ReLU (the arc-cosine kernels of degree 1 and 0): with p = sqrt(s11 s22), c = s12 / p and
 * th = arccos(c): T = p / (2 pi) (sin th + (pi - th) c), Tdot = (pi - th) / (2 pi). Where
 * s11 s22 = 0 one side is identically 0, so T = Tdot = 0 (the engine's relu'(0) = 0); at
 * c = 1 the limits are T = p / 2 and Tdot = 1/2, at c = -1 both are 0.
 * @example reluKernelMap().expectations(tg.scalar(1, 'float64'), tg.scalar(1, 'float64'), tg.scalar(1, 'float64'), true) // t = 0.5, tdot = 0.5
 */
export function reluKernelMap(): KernelMap {
  return {
    name: 'Relu',
    method: 'closed form (arc-cosine kernel)',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const prod = tg.mul(s11, s22);
      const positive = tg.greater(prod, 0);
      const p = tg.sqrt(tg.where(positive, prod, 1));
      const c = clip(tg.div(s12, p), -1, 1);
      // Strictly inside (-1, 1) arccos has a finite derivative; at +-1 the limits below apply.
      const inside = tg.less(tg.abs(c), 1);
      const th = tg.acos(tg.where(inside, c, 0));
      const piMinus = tg.sub(Math.PI, th);
      const tIn = tg.mul(tg.div(p, 2 * Math.PI), tg.add(tg.sin(th), tg.mul(piMinus, tg.where(inside, c, 0))));
      const up = tg.greater(c, 0);
      // c = 1: th = 0, T = p pi / (2 pi); c = -1: th = pi, T = 0.
      const tEdge = tg.where(up, tg.mul(tg.div(p, 2 * Math.PI), Math.PI), 0);
      const t = tg.where(positive, tg.where(inside, tIn, tEdge), 0);
      if (!wantDot) return { t, tdot: null };
      const dIn = tg.div(piMinus, 2 * Math.PI);
      const dEdge = tg.where(up, 0.5, 0);
      return { t, tdot: tg.where(positive, tg.where(inside, dIn, dEdge), 0) };
    },
  };
}

/**
 * phi(x) = a erf(b x) + c in closed form (Williams 1997): with D = (1 + 2 b^2 s11)(1 + 2 b^2 s22),
 * T = a^2 (2 / pi) asin(2 b^2 s12 / sqrt(D)) + c^2 and Tdot = a^2 b^2 (4 / pi) (D - 4 b^4 s12^2)^(-1/2),
 * i.e. PAPER.md's (2/pi) asin(...) and (4/pi) det(I + 2 Sigma)^(-1/2) at a = b = 1, c = 0.
 * (E[erf] = 0 by symmetry, so c only adds c^2 to T.)
 * @example erfKernelMap(1, 1, 0).expectations(one, zero, one, false).t // 0
 */
export function erfKernelMap(a = 1, b = 1, c = 0): KernelMap {
  const b2 = b * b;
  return {
    name: 'Erf',
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const d1 = tg.add(tg.mul(s11, 2 * b2), 1);
      const d2 = tg.add(tg.mul(s22, 2 * b2), 1);
      const lim = tg.sqrt(tg.mul(s11, s22));
      const x12 = clip(s12, tg.neg(lim), lim);
      const dd = tg.mul(d1, d2);
      const arg = clip(tg.div(tg.mul(x12, 2 * b2), tg.sqrt(dd)), -1, 1);
      const t = tg.add(tg.mul(tg.asin(arg), a * a * (2 / Math.PI)), c * c);
      if (!wantDot) return { t, tdot: null };
      const det = tg.maximum(tg.sub(dd, tg.mul(tg.mul(x12, 4 * b2 * b2), x12)), tinyPositive(s11));
      return { t, tdot: tg.div(a * a * b2 * (4 / Math.PI), tg.sqrt(det)) };
    },
  };
}

/** The smallest positive normal-ish value of the tensor's dtype (keeps a 1/sqrt finite). */
function tinyPositive(like: Tensor): number {
  return like.dtype === 'float64' ? Number.MIN_VALUE : 1.1754943508222875e-38;
}
