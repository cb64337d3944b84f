/**
 * Gaussian expectations of nonlinearities (PAPER.md section 6): for (u, v) ~ N(0, Sigma) with
 * Sigma = [[s11, s12], [s12, s22]],
 *   T(Sigma)    = E[phi(u) phi(v)]
 *   Tdot(Sigma) = E[phi'(u) phi'(v)]
 * in closed form for ReLU and a * erf(b x) + c (closed-forms.ts), and by numerical quadrature over
 * the 2-D Gaussian for any other phi (quadrature.ts, on the 1-D rules of this file).
 *
 * Quadrature: u = sqrt(s11) z1, v = sqrt(s22) (c z1 + sqrt(1 - c^2) z2) with z1, z2 iid N(0, 1)
 * and c = s12 / sqrt(s11 s22), so E[g(u, v)] = sum_ij w_i w_j g(u(z_i), v(z_i, z_j)) on a 1-D
 * rule (z_i, w_i) for N(0, 1), tensorized. Two rules:
 *
 * - Gauss-Hermite (a fixed number m of points): nodes and weights from Golub-Welsch, the
 *   eigenvalues of the Jacobi matrix of the probabilists' Hermite polynomials (zero diagonal,
 *   off-diagonal sqrt(k)) by the implicit QL algorithm on the tridiagonal matrix in float64
 *   (linalg/dense.ts),
 *   polished by Newton steps on the orthonormal recurrence; the weights are the Christoffel
 *   numbers 1 / sum_k p_k(x_i)^2, accurate where squared eigenvector components lose digits.
 *   Exact for polynomials of degree <= 2m - 1, but for phi with singularities near the real
 *   axis it converges slowly, and worse as the variance grows: tanh(sigma z) has poles at
 *   z = +-i pi / (2 sigma), and GH's error falls like exp(-c d sqrt(m)) with that distance d.
 *   Measured for tanh at m = 64: Tdot off by ~1e-8 at variance 1, ~1e-5 at 3, ~1e-3 at 6.
 * - 'auto' (the default): the trapezoid rule on [-8.6, 8.6] with step h = min(0.5, 0.3 / sigma),
 *   sigma = max(sqrt(s11), sqrt(s22)) of the entry rounded up to a power of 2^(1/4), weights
 *   proportional to the normal density (normalized to sum 1). For integrands analytic in a strip of half-width d its error
 *   falls like exp(-2 pi d / h) (the truncated tail is below 1e-16), i.e. geometrically in the
 *   number of points 57 sigma + 1: for tanh ~1e-14 in T and ~1e-12 in Tdot at any variance,
 *   with 58 points per dimension at sigma = 1 and 116 at sigma = 2.
 * Kinks (ReLU, abs) converge only algebraically under either rule: that is why ReLU keeps its
 * closed form.
 */
import { tridiagonalEigenvalues } from '../../linalg/dense.ts';

/** Nodes (ascending) and weights (summing to 1) of a 1-D quadrature rule for N(0, 1). */
export interface GaussianRule {
  readonly nodes: Float64Array;
  readonly weights: Float64Array;
}

const ruleCache = new Map<number, GaussianRule>();

/**
 * The m-point Gauss-Hermite rule for the standard normal measure: E[g(z)] ~ sum_i w_i g(x_i).
 * @example const { nodes, weights } = gaussHermite(20); // sum w x^2 = 1, sum w x^4 = 3
 */
export function gaussHermite(m: number): GaussianRule {
  if (!Number.isInteger(m) || m < 1 || m > 200) throw new Error(`gaussHermite: the number of points must be an integer in [1, 200], got ${m}`);
  const cached = ruleCache.get(m);
  if (cached) return cached;
  // Jacobi matrix of the monic probabilists' Hermite recurrence He_{k+1} = x He_k - k He_{k-1}.
  const e = new Float64Array(m);
  for (let k = 1; k < m; k++) e[k - 1] = Math.sqrt(k);
  const nodes = tridiagonalEigenvalues(new Float64Array(m), e, 'gaussHermite');
  const weights = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let x = nodes[i];
    // Newton on p_m (orthonormal): p_m' = sqrt(m) p_{m-1}. QL nodes are already accurate to a few
    // ulps of the largest node; two steps remove the rest.
    for (let it = 0; it < 2; it++) {
      const { pm, pm1 } = orthonormalHermite(x, m);
      const dp = Math.sqrt(m) * pm1;
      if (dp !== 0) x -= pm / dp;
    }
    nodes[i] = x;
    let s = 0;
    let p0 = 1;
    let p1 = x;
    s += 1;
    if (m > 1) s += x * x;
    for (let k = 1; k < m - 1; k++) {
      const p2 = (x * p1 - Math.sqrt(k) * p0) / Math.sqrt(k + 1);
      s += p2 * p2;
      p0 = p1;
      p1 = p2;
    }
    weights[i] = 1 / s;
  }
  // Symmetrize exactly: the rule is symmetric about 0 in exact arithmetic.
  for (let i = 0; i < m >> 1; i++) {
    const x = 0.5 * (nodes[m - 1 - i] - nodes[i]);
    const w = 0.5 * (weights[i] + weights[m - 1 - i]);
    nodes[i] = -x;
    nodes[m - 1 - i] = x;
    weights[i] = w;
    weights[m - 1 - i] = w;
  }
  if (m % 2 === 1) nodes[m >> 1] = 0;
  const rule = { nodes, weights };
  ruleCache.set(m, rule);
  return rule;
}

/** p_m(x) and p_{m-1}(x) of the orthonormal Hermite polynomials (p_0 = 1, p_1 = x). */
function orthonormalHermite(x: number, m: number): { pm: number; pm1: number } {
  let p0 = 1;
  let p1 = x;
  if (m === 1) return { pm: p1, pm1: p0 };
  for (let k = 1; k < m; k++) {
    const p2 = (x * p1 - Math.sqrt(k) * p0) / Math.sqrt(k + 1);
    p0 = p1;
    p1 = p2;
  }
  return { pm: p1, pm1: p0 };
}

/** Which 1-D rule the 2-D quadrature tensorizes: 'auto' (variance-scaled trapezoid) or m-point Gauss-Hermite. */
export type QuadratureRule = 'auto' | number;

/** Checks a quadrature rule argument (errors name `who`). */
export function checkQuadratureRule(who: string, rule: QuadratureRule): QuadratureRule {
  if (rule !== 'auto' && !(Number.isInteger(rule) && rule >= 2 && rule <= 200)) {
    throw new Error(`${who}: quadrature must be 'auto' or a number of Gauss-Hermite points in [2, 200], got ${JSON.stringify(rule)}`);
  }
  return rule;
}

/**
 * The trapezoid rule for N(0, 1) resolving phi(sigma z): step min(0.5, 0.3 / sigma) on [-8.6, 8.6].
 * @example scaledTrapezoid(1).nodes.length // 57
 */
export function scaledTrapezoid(sigma: number): GaussianRule {
  const h = Math.min(0.5, 0.3 / Math.max(sigma, 1e-300));
  const half = Math.floor(8.6 / h);
  const nodes = new Float64Array(2 * half + 1);
  const weights = new Float64Array(2 * half + 1);
  let total = 0;
  for (let i = -half; i <= half; i++) {
    const z = i * h;
    nodes[i + half] = z;
    weights[i + half] = Math.exp(-0.5 * z * z);
    total += weights[i + half];
  }
  for (let i = 0; i < weights.length; i++) weights[i] /= total;
  return { nodes, weights };
}
