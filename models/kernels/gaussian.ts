/**
 * Gaussian expectations of nonlinearities (PAPER.md section 6): for (u, v) ~ N(0, Sigma) with
 * Sigma = [[s11, s12], [s12, s22]],
 *   T(Sigma)    = E[phi(u) phi(v)]
 *   Tdot(Sigma) = E[phi'(u) phi'(v)]
 * in closed form for ReLU and a * erf(b x) + c (closed-forms.ts, as tensor ops; here on host
 * arrays), and by numerical quadrature over the 2-D Gaussian for any other phi.
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
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { tridiagonalEigenvalues } from '../../linalg/dense.ts';
import { erfKernelMap, reluKernelMap, type KernelMap } from './closed-forms.ts';

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

/** T and Tdot of one nonlinearity, evaluated for many covariances at once. */
export interface GaussianMap {
  /** Name used in errors and reports, e.g. 'Relu' or 'Elementwise(softplus)'. */
  readonly name: string;
  /** How T is computed, for reports: a closed form or which quadrature rule. */
  readonly method: string;
  /**
   * For entries e: T(Sigma_e) and, when `wantDot`, Tdot(Sigma_e), with Sigma_e = [[s11[e], s12[e]], [s12[e], s22[e]]].
   * Variances must be >= 0; |s12| is clipped to sqrt(s11 s22) (round-off).
   */
  expectations(s11: Float64Array, s12: Float64Array, s22: Float64Array, wantDot: boolean): { t: Float64Array; tdot: Float64Array | null };
}

function correlation(a: number, b: number, s12: number): number {
  const p = Math.sqrt(a * b);
  if (!(p > 0)) return 0;
  const c = s12 / p;
  return c > 1 ? 1 : c < -1 ? -1 : c;
}

/** A tensor KernelMap evaluated on host arrays (float64 CPU tensors in, arrays out). */
function onHost(map: KernelMap): GaussianMap {
  return {
    name: map.name,
    method: map.method,
    expectations(s11, s12, s22, wantDot) {
      const cpu = tg.backendInstance('cpu');
      if (!cpu) throw new Error(`${map.name}: host expectations need the CPU backend`);
      return tg.tidy(() => {
        const t = (a: Float64Array) => tg.tensor(Float64Array.from(a), [a.length], 'float64', cpu);
        const r = map.expectations(t(s11), t(s12), t(s22), wantDot);
        return { t: Float64Array.from(r.t.dataSync()), tdot: r.tdot === null ? null : Float64Array.from(r.tdot.dataSync()) };
      });
    },
  };
}

/**
 * ReLU in closed form on host arrays: closed-forms.ts's reluKernelMap (the arc-cosine kernel).
 * @example reluMap().expectations(Float64Array.of(1), Float64Array.of(1), Float64Array.of(1), true) // t = [0.5], tdot = [0.5]
 */
export function reluMap(): GaussianMap {
  return onHost(reluKernelMap());
}

/**
 * phi(x) = a erf(b x) + c in closed form on host arrays: closed-forms.ts's erfKernelMap.
 * @example erfMap(1, 1, 0).expectations(Float64Array.of(1), Float64Array.of(0), Float64Array.of(1), false).t // [0]
 */
export function erfMap(a = 1, b = 1, c = 0): GaussianMap {
  return onHost(erfKernelMap(a, b, c));
}

/** phi evaluated on many points at once. */
export type BatchFn = (xs: Float64Array) => Float64Array;

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

/** A rule's nodes with weights below 1e-17 of the largest dropped (they cannot move a double). */
function pruned(rule: GaussianRule): { z: Float64Array; w: Float64Array } {
  let wMax = 0;
  for (const w of rule.weights) wMax = Math.max(wMax, w);
  const keep: number[] = [];
  rule.weights.forEach((w, i) => {
    if (w > 1e-17 * wMax) keep.push(i);
  });
  return { z: Float64Array.from(keep, (i) => rule.nodes[i]), w: Float64Array.from(keep, (i) => rule.weights[i]) };
}

/** phi and phi' at the same points in one pass (e.g. tanh' = 1 - tanh^2 reuses tanh). */
export type BatchFnWithDerivative = (xs: Float64Array) => { f: Float64Array; df: Float64Array };

/**
 * T and Tdot of any phi by 2-D quadrature (see the module comment for the two rules), given phi
 * and phi' on batches of points, and optionally both in one pass (`both`, used when the NTK is
 * wanted). Perfectly correlated entries (|c| = 1, e.g. self-covariances) take a 1-D path.
 * @example const tanh = quadratureMap('Tanh', (x) => x.map(Math.tanh), (x) => x.map((v) => 1 - Math.tanh(v) ** 2));
 */
export function quadratureMap(name: string, phi: BatchFn, dphi: BatchFn | null, rule: QuadratureRule = 'auto', both?: BatchFnWithDerivative): GaussianMap {
  checkQuadratureRule(name, rule);
  const fixed = rule === 'auto' ? null : pruned(gaussHermite(rule));
  const evaluate = (xs: Float64Array, wantDot: boolean): { f: Float64Array; df: Float64Array | null } => {
    if (!wantDot) return { f: phi(xs), df: null };
    if (both) return both(xs);
    return { f: phi(xs), df: dphi!(xs) };
  };
  return {
    name,
    method: rule === 'auto' ? 'quadrature: trapezoid rule scaled to each variance' : `quadrature: ${rule}-point Gauss-Hermite`,
    expectations(s11, s12, s22, wantDot) {
      const n = s11.length;
      const t = new Float64Array(n);
      const tdot = wantDot ? new Float64Array(n) : null;
      if (wantDot && dphi === null && !both) throw new Error(`${name}: the NTK needs phi', which this nonlinearity does not provide`);
      // Group the entries by rule. 'auto' buckets each entry's largest standard deviation up to
      // the next power of 2^(1/4), so an entry's value never depends on which others share its
      // batch (blocking does not change results) and small-variance entries use fewer nodes.
      const groups = new Map<number, { full: number[]; degenerate: number[] }>();
      for (let e = 0; e < n; e++) {
        const sd = Math.sqrt(Math.max(s11[e], s22[e], 0));
        const key = fixed !== null || !(sd > 0) ? -1000 : Math.ceil(4 * Math.log2(sd));
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { full: [], degenerate: [] }));
        const c = correlation(s11[e], s22[e], s12[e]);
        (c === 1 || c === -1 ? g.degenerate : g.full).push(e);
      }
      for (const [key, { full, degenerate }] of groups) {
        const { z, w } = fixed ?? pruned(scaledTrapezoid(key === -1000 ? 0 : 2 ** (key / 4)));
        const m = z.length;
        // |c| = 1: v = c sqrt(s22 / s11) u, a 1-D integral.
        if (degenerate.length > 0) {
          const us = new Float64Array(degenerate.length * m);
          const vs = new Float64Array(degenerate.length * m);
          degenerate.forEach((e, r) => {
            const a = Math.sqrt(Math.max(s11[e], 0));
            const bc = Math.sqrt(Math.max(s22[e], 0)) * correlation(s11[e], s22[e], s12[e]);
            for (let i = 0; i < m; i++) {
              us[r * m + i] = a * z[i];
              vs[r * m + i] = bc * z[i];
            }
          });
          const fu = evaluate(us, wantDot);
          const fv = evaluate(vs, wantDot);
          degenerate.forEach((e, r) => {
            let acc = 0;
            let accDot = 0;
            for (let i = 0; i < m; i++) {
              acc += w[i] * fu.f[r * m + i] * fv.f[r * m + i];
              if (tdot) accDot += w[i] * fu.df![r * m + i] * fv.df![r * m + i];
            }
            t[e] = acc;
            if (tdot) tdot[e] = accDot;
          });
        }
        // Entries per chunk: keeps the point buffers near 2^20 doubles (8 MB).
        const chunk = Math.max(1, Math.floor((1 << 20) / (m * (m + 1))));
        for (let start = 0; start < full.length; start += chunk) {
          const count = Math.min(full.length, start + chunk) - start;
          const us = new Float64Array(count * m);
          const vs = new Float64Array(count * m * m);
          for (let r = 0; r < count; r++) {
            const e = full[start + r];
            const a = Math.sqrt(Math.max(s11[e], 0));
            const b = Math.sqrt(Math.max(s22[e], 0));
            const c = correlation(s11[e], s22[e], s12[e]);
            const s = Math.sqrt(Math.max(0, 1 - c * c));
            for (let i = 0; i < m; i++) {
              us[r * m + i] = a * z[i];
              const base = (r * m + i) * m;
              const bc = b * c * z[i];
              for (let j = 0; j < m; j++) vs[base + j] = bc + b * s * z[j];
            }
          }
          const reduce = (fu: Float64Array, fv: Float64Array, out: Float64Array) => {
            for (let r = 0; r < count; r++) {
              let acc = 0;
              for (let i = 0; i < m; i++) {
                const base = (r * m + i) * m;
                let inner = 0;
                for (let j = 0; j < m; j++) inner += w[j] * fv[base + j];
                acc += w[i] * fu[r * m + i] * inner;
              }
              out[full[start + r]] = acc;
            }
          };
          const fu = evaluate(us, wantDot);
          const fv = evaluate(vs, wantDot);
          reduce(fu.f, fv.f, t);
          if (tdot) reduce(fu.df!, fv.df!, tdot);
        }
      }
      return { t, tdot };
    },
  };
}

/**
 * Quadrature for an engine function fn (Tensor -> Tensor, elementwise): phi by running fn on
 * float64 CPU tensors of the quadrature points, phi' by the engine's reverse mode at those points
 * (one VJP with a ones cotangent, i.e. the gradient of sum(fn(x)): exact derivatives, no finite
 * differences). Points go through in chunks of at most 2^20.
 * @example const softplus = tensorFunctionMap('softplus', (x) => tg.log1p(tg.exp(x)));
 */
export function tensorFunctionMap(name: string, fn: (x: Tensor) => Tensor, rule: QuadratureRule = 'auto'): GaussianMap {
  const cpu = tg.backendInstance('cpu');
  if (!cpu) throw new Error(`${name}: the kernel quadrature needs the CPU backend`);
  // One pass gives phi (the forward values) and phi' (one VJP with a ones cotangent: fn is elementwise).
  const run = (xs: Float64Array, derivative: boolean): { f: Float64Array; df: Float64Array | null } => {
    const f = new Float64Array(xs.length);
    const df = derivative ? new Float64Array(xs.length) : null;
    const step = 1 << 20;
    for (let s = 0; s < xs.length; s += step) {
      const part = xs.subarray(s, Math.min(xs.length, s + step));
      tg.tidy(() => {
        const x = tg.tensor(Float64Array.from(part), [part.length], 'float64', cpu);
        const [y, back] = tg.vjp(fn, x);
        try {
          if (!(y instanceof tg.Tensor) || y.shape.length !== 1 || y.shape[0] !== part.length) {
            throw new Error(`${name}: the function must be elementwise (got ${y instanceof tg.Tensor ? `shape [${y.shape.join(',')}]` : typeof y} for [${part.length}])`);
          }
          f.set(y.dataSync(), s);
          if (df) df.set((back(tg.onesLike(y))[0] as Tensor).dataSync(), s);
        } finally {
          back.dispose();
        }
      });
    }
    return { f, df };
  };
  return quadratureMap(name, (xs) => run(xs, false).f, (xs) => run(xs, true).df!, rule, (xs) => {
    const r = run(xs, true);
    return { f: r.f, df: r.df! };
  });
}

/**
 * Tanh by quadrature with phi = Math.tanh and phi' = 1 - tanh^2 in closed form (no engine round
 * trip: the kernels of the paper's Figure 2 network evaluate it millions of times).
 * @example tanhMap().expectations(Float64Array.of(1), Float64Array.of(0.5), Float64Array.of(1), true)
 */
export function tanhMap(rule: QuadratureRule = 'auto'): GaussianMap {
  const tanh = (xs: Float64Array) => xs.map(Math.tanh);
  const sech2 = (xs: Float64Array) => xs.map((v) => {
    const th = Math.tanh(v);
    return 1 - th * th;
  });
  const both = (xs: Float64Array) => {
    const f = new Float64Array(xs.length);
    const df = new Float64Array(xs.length);
    for (let i = 0; i < xs.length; i++) {
      const th = Math.tanh(xs[i]);
      f[i] = th;
      df[i] = 1 - th * th;
    }
    return { f, df };
  };
  return quadratureMap('Tanh', tanh, sech2, rule, both);
}
