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

/**
 * The angle between the two sides of a covariance entry, with every singular point guarded (the
 * double where): p = sqrt(s11 s22) (1 where s11 s22 = 0), c = s12 / p clipped to [-1, 1],
 * th = arccos(c) in [0, pi] and sin(th) = sqrt((1 - c)(1 + c)). At |c| = 1 th is 0 or pi and
 * sin(th) is 0 without evaluating arccos' or sqrt' at their singularities; where s11 s22 = 0
 * (a side with zero variance, so s12 = 0 too) th is pi/2, as stax's arctan2 fill value.
 */
function angle(s11: Tensor, s12: Tensor, s22: Tensor): { p: Tensor; positive: Tensor; c: Tensor; th: Tensor; sinTh: Tensor } {
  const prod = tg.mul(s11, s22);
  const positive = tg.greater(prod, 0);
  const p = tg.sqrt(tg.where(positive, prod, 1));
  const c = tg.where(positive, clip(tg.div(s12, p), -1, 1), 0);
  const inside = tg.less(tg.abs(c), 1);
  const cIn = tg.where(inside, c, 0);
  const th = tg.where(inside, tg.acos(cIn), tg.where(tg.greater(c, 0), 0, Math.PI));
  const sinTh = tg.where(inside, tg.sqrt(tg.mul(tg.sub(1, cIn), tg.add(1, cIn))), 0);
  return { p, positive, c, th, sinTh };
}

/**
 * phi(x) = a min(x, 0) + b max(x, 0), as stax.ABRelu (LeakyRelu(alpha) = ABRelu(alpha, 1),
 * Abs = ABRelu(-1, 1)): with th the angle between the sides (cos th = s12 / sqrt(s11 s22)),
 *   Tdot = (a^2 + b^2) / 2 - (a - b)^2 th / (2 pi),
 *   T    = (a - b)^2 / (2 pi) sqrt(s11 s22 - s12^2) + Tdot s12.
 * Where a side has zero variance th = pi/2 (stax's fill value), so T = 0 and Tdot = (a + b)^2 / 4,
 * i.e. phi'(0) = (a + b) / 2 on that side.
 * @example abReluKernelMap(0.1, 1) // LeakyRelu(0.1)
 */
export function abReluKernelMap(a: number, b: number, name = `ABRelu(${a}, ${b})`): KernelMap {
  const factor = ((a - b) * (a - b)) / (2 * Math.PI);
  const half = (a * a + b * b) / 2;
  return {
    name,
    method: 'closed form (arc-cosine kernel)',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const { p, positive, c, th, sinTh } = angle(s11, s12, s22);
      const tdot = tg.sub(half, tg.mul(th, factor));
      // s12 as p c: the clipped covariance, consistent with th; 0 where a side has zero variance.
      const t = tg.where(positive, tg.add(tg.mul(tg.mul(p, sinTh), factor), tg.mul(tdot, tg.mul(p, c))), 0);
      return { t, tdot: wantDot ? tdot : null };
    },
  };
}

/**
 * phi(x) = sign(x), as stax.Sign: T = 1 - 2 th / pi (= (2 / pi) asin(c), Sheppard's formula), and
 * Tdot = 0 (phi' = 0 almost everywhere, so the layer passes no NTK through). A side of zero
 * variance gives T = 0.
 * @example signKernelMap()
 */
export function signKernelMap(): KernelMap {
  return {
    name: 'Sign',
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const { th } = angle(s11, s12, s22);
      const t = tg.sub(1, tg.mul(th, 2 / Math.PI));
      return { t, tdot: wantDot ? tg.zerosLike(t) : null };
    },
  };
}

/**
 * phi(x) = x Phi(x) (exact Gelu), as stax.Gelu (arXiv:2002.08517): with P = s11 s22,
 * P1 = (1 + s11)(1 + s22), D = sqrt(P1 - s12^2) and g = asin(s12 / sqrt(P1)) (stax's
 * arctan2(s12, D); P1 > s12^2 always, so no singular point),
 *   T    = s12 / 4 + ((s12^2 + P D^2) / (P1 D) + s12 g) / (2 pi),
 *   Tdot = 1 / 4 + g / (2 pi) + s12 / (2 pi D) (1 / D^2 + (1 - P) / P1 + 1).
 * @example geluKernelMap()
 */
export function geluKernelMap(): KernelMap {
  return {
    name: 'Gelu',
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const prod = tg.mul(s11, s22);
      const p1 = tg.mul(tg.add(s11, 1), tg.add(s22, 1));
      const lim = tg.sqrt(tg.maximum(prod, 0));
      const x = clip(s12, tg.neg(lim), lim);
      const d2 = tg.sub(p1, tg.mul(x, x));
      const d = tg.sqrt(d2);
      const g = tg.asin(tg.div(x, tg.sqrt(p1)));
      const inner = tg.add(tg.div(tg.add(tg.mul(x, x), tg.mul(prod, d2)), tg.mul(p1, d)), tg.mul(x, g));
      const t = tg.add(tg.mul(x, 0.25), tg.div(inner, 2 * Math.PI));
      if (!wantDot) return { t, tdot: null };
      const first = tg.mul(tg.div(x, tg.mul(d, 2 * Math.PI)), tg.add(tg.add(tg.reciprocal(d2), tg.div(tg.sub(1, prod), p1)), 1));
      return { t, tdot: tg.add(tg.add(first, 0.25), tg.div(g, 2 * Math.PI)) };
    },
  };
}

/**
 * phi(x) = a sin(b x + c), as stax.Sin (Cos(a, b, c) = Sin(a, b, c + pi/2)): with
 * S = s11 + s22, e+ = exp(b^2 (s12 - S / 2)) and e- = exp(-b^2 (s12 + S / 2)) cos(2 c),
 * T = a^2 / 2 (e+ - e-) and Tdot = a^2 b^2 / 2 (e+ + e-).
 * @example sinKernelMap(1, 1, 0)
 */
export function sinKernelMap(a = 1, b = 1, c = 0, name = 'Sin'): KernelMap {
  const half = (a * a) / 2;
  const b2 = b * b;
  const cos2c = Math.cos(2 * c);
  return {
    name,
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const halfSum = tg.mul(tg.add(s11, s22), 0.5);
      const ePlus = tg.exp(tg.mul(tg.sub(s12, halfSum), b2));
      const eMinus = tg.mul(tg.exp(tg.mul(tg.add(s12, halfSum), -b2)), cos2c);
      const t = tg.mul(tg.sub(ePlus, eMinus), half);
      return { t, tdot: wantDot ? tg.mul(tg.add(ePlus, eMinus), half * b2) : null };
    },
  };
}

/**
 * The dual activation of the RBF kernel, phi(x) = sqrt(2) sin(sqrt(2 gamma) x + pi / 4), as
 * stax.Rbf: T = exp(gamma (2 s12 - s11 - s22)) (= exp(-gamma |x - x'|^2 / d) after a Dense on
 * inputs x, x'), Tdot = 2 gamma T. (Sin(sqrt 2, sqrt(2 gamma), pi/4) in exact arithmetic; written
 * out so cos(pi/2) = 6e-17 does not leave a residue.)
 * @example rbfKernelMap(0.5)
 */
export function rbfKernelMap(gamma = 1): KernelMap {
  return {
    name: 'Rbf',
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const t = tg.exp(tg.mul(tg.sub(tg.mul(s12, 2), tg.add(s11, s22)), gamma));
      return { t, tdot: wantDot ? tg.mul(t, 2 * gamma) : null };
    },
  };
}

/**
 * phi(x) = a exp(b x), as stax.Exp: T = a^2 exp(b^2 ((s11 + s22) / 2 + s12)), Tdot = b^2 T.
 * @example expKernelMap(1, 0.5)
 */
export function expKernelMap(a = 1, b = 1): KernelMap {
  const b2 = b * b;
  return {
    name: 'Exp',
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const t = tg.mul(tg.exp(tg.mul(tg.add(tg.mul(tg.add(s11, s22), 0.5), s12), b2)), a * a);
      return { t, tdot: wantDot ? tg.mul(t, b2) : null };
    },
  };
}

/**
 * phi(x) = a exp(b x^2), as stax.Gaussian: with P = (1 - 2 b s11)(1 - 2 b s22) and
 * D = sqrt(P - 4 b^2 s12^2), T = a^2 / D and Tdot = 4 a^2 b^2 s12 / D^3. For b > 0 the expectation
 * is finite only while 2 b s < 1 on both sides (D > 0); beyond it the entries are infinite or NaN.
 * @example gaussianKernelMap(1, -1)
 */
export function gaussianKernelMap(a = 1, b = -1): KernelMap {
  const f = 4 * b * b;
  return {
    name: 'Gaussian',
    method: 'closed form',
    exactlySymmetric: true,
    expectations(s11, s12, s22, wantDot) {
      const prod = tg.mul(tg.sub(1, tg.mul(s11, 2 * b)), tg.sub(1, tg.mul(s22, 2 * b)));
      const det = tg.sqrt(tg.maximum(tg.sub(prod, tg.mul(tg.mul(s12, s12), f)), 0));
      const t = tg.div(a * a, det);
      if (!wantDot) return { t, tdot: null };
      return { t, tdot: tg.div(tg.mul(s12, a * a * f), tg.mul(tg.mul(det, det), det)) };
    },
  };
}

/**
 * The normalized probabilists' Hermite polynomial He_n(x) / sqrt(n!), as stax.Hermite(n), n in
 * 1..6: T = s12^n and Tdot = n s12^(n-1) (Mehler's formula). Exact only for inputs of unit
 * variance (s11 = s22 = 1), which stax assumes as well; for other variances this is stax's
 * kernel, not E[phi(u) phi(v)].
 * @example hermiteKernelMap(3)
 */
export function hermiteKernelMap(degree: number): KernelMap {
  const power = (x: Tensor, n: number): Tensor => {
    let y = x;
    for (let i = 1; i < n; i++) y = tg.mul(y, x);
    return y;
  };
  return {
    name: `Hermite(${degree})`,
    method: 'closed form (unit-variance inputs)',
    exactlySymmetric: true,
    expectations(_s11, s12, _s22, wantDot) {
      const t = power(s12, degree);
      if (!wantDot) return { t, tdot: null };
      return { t, tdot: degree === 1 ? tg.onesLike(s12) : tg.mul(power(s12, degree - 1), degree) };
    },
  };
}
