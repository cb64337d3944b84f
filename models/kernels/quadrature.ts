/**
 * T and Tdot of any elementwise phi by 2-D quadrature over the Gaussian, as engine ops (the rules
 * of gaussian.ts's module comment): u = sqrt(s11) z1, v = sqrt(s22) (c z1 + sqrt(1 - c^2) z2) with
 * c = s12 / sqrt(s11 s22), and E[g(u, v)] = sum_ij w_i w_j g(u(z_i), v(z_i, z_j)) on a 1-D rule
 * (z_i, w_i) for N(0, 1). Every entry is one row of an [entries, m] node table and an
 * [entries, m, m] grid of v, so phi runs once per chunk of entries on whatever backend the kernel
 * lives on, and the result is differentiable in s11, s12, s22 (the nodes are constants).
 *
 * - Gauss-Hermite with m points: one node row shared by every entry (no data dependence: runs on
 *   every backend, WebGPU included).
 * - 'auto': each entry gets the trapezoid rule of its own largest standard deviation, rounded up
 *   to a power of 2^(1/4) (gaussian.ts's scaledTrapezoid, nodes of negligible weight dropped), so
 *   an entry's value never depends on the others in its block. Rows are padded to the longest rule
 *   with zero weights at node 0. Choosing the rules reads the variances on the host, which only a
 *   synchronously readable backend (the CPU) allows; on WebGPU pass a number of Gauss-Hermite
 *   points instead.
 * Perfectly correlated entries (|c| = 1: self-covariances, the diagonal of a symmetric block) need
 * no special path: sqrt(1 - c^2) = 0 collapses the inner sum to phi(v) times the weight sum, 1.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { broadcastShapes } from '../../engine/shape.ts';
import type { KernelMap } from './closed-forms.ts';
import { checkQuadratureRule, gaussHermite, scaledTrapezoid, type GaussianRule, type QuadratureRule } from './gaussian.ts';

/** phi at x and, when asked, phi' at x (same shapes). */
export type PhiWithDerivative = (x: Tensor, wantDot: boolean) => { f: Tensor; df: Tensor | null };

/** Entries evaluated per chunk: keeps the [entries, m, m] grids near 2^20 values. */
const GRID_VALUES = 1 << 20;

/** A rule's nodes and weights with weights below 1e-17 of the largest dropped (they cannot move a double). */
function pruned(rule: GaussianRule): { z: number[]; w: number[] } {
  let wMax = 0;
  for (const w of rule.weights) wMax = Math.max(wMax, w);
  const z: number[] = [];
  const w: number[] = [];
  rule.weights.forEach((wi, i) => {
    if (wi > 1e-17 * wMax) {
      z.push(rule.nodes[i]);
      w.push(wi);
    }
  });
  return { z, w };
}

/** The 'auto' rule of an entry with standard deviation sd: its bucket's trapezoid rule (cached). */
const trapezoidCache = new Map<number, { z: number[]; w: number[] }>();
function autoRule(sd: number): { z: number[]; w: number[] } {
  const key = !(sd > 0) ? -1000 : Math.ceil(4 * Math.log2(sd));
  let r = trapezoidCache.get(key);
  if (!r) trapezoidCache.set(key, (r = pruned(scaledTrapezoid(key === -1000 ? 0 : 2 ** (key / 4)))));
  return r;
}

/**
 * Node and weight tables [rows, m] for entries [start, end): one shared row for Gauss-Hermite, one
 * row per entry for 'auto' (rules[e]), padded to the chunk's longest rule with zero weights at node 0.
 */
function nodeTables(rules: { z: number[]; w: number[] }[] | null, fixed: { z: number[]; w: number[] } | null, start: number, end: number, like: Tensor): { z: Tensor; w: Tensor } {
  const upload = (data: ArrayLike<number>, rows: number, m: number) => tg.tensor(Float64Array.from(data), [rows, m], like.dtype, like.backend);
  if (fixed !== null) return { z: upload(fixed.z, 1, fixed.z.length), w: upload(fixed.w, 1, fixed.w.length) };
  const mine = rules!.slice(start, end);
  const m = mine.reduce((a, r) => Math.max(a, r.z.length), 1);
  const z = new Float64Array(mine.length * m);
  const w = new Float64Array(mine.length * m);
  mine.forEach((r, e) => {
    z.set(r.z, e * m);
    w.set(r.w, e * m);
  });
  return { z: upload(z, mine.length, m), w: upload(w, mine.length, m) };
}

/** sqrt(x) for x > 0, else 0, with a finite derivative everywhere (the double where). */
function safeSqrt(x: Tensor): Tensor {
  const positive = tg.greater(x, 0);
  return tg.where(positive, tg.sqrt(tg.where(positive, x, 1)), 0);
}

/**
 * T (and Tdot) of phi over flat [E] tensors a = sqrt(s11), bc = sqrt(s22) c and bs = sqrt(s22) s
 * (s = sqrt(1 - c^2)), with node tables z, w of [E or 1, m].
 */
function integrate(phi: PhiWithDerivative, a: Tensor, bc: Tensor, bs: Tensor, z: Tensor, w: Tensor, wantDot: boolean): { t: Tensor; tdot: Tensor | null } {
  const E = a.shape[0];
  const rows = z.shape[0];
  const m = z.shape[1];
  const u = tg.mul(tg.reshape(a, [E, 1]), z); // [E, m]
  const cube = (x: Tensor) => tg.reshape(x, [E, 1, 1]);
  // v_ij = (b c) z_i + (b s) z_j: the two small factors first, one pass over the [E, m, m] grid.
  const v = tg.add(tg.mul(cube(bc), tg.reshape(z, [rows, m, 1])), tg.mul(cube(bs), tg.reshape(z, [rows, 1, m])));
  const pu = phi(u, wantDot);
  const pv = phi(v, wantDot);
  const wCol = tg.reshape(w, [rows, m, 1]);
  // sum_i w_i g(u_i) (sum_j w_j g(v_ij)): the inner sums as one batched matrix-vector product.
  const reduce = (fu: Tensor, fv: Tensor) => tg.sum(tg.mul(tg.mul(w, fu), tg.reshape(tg.matmul(fv, wCol), [E, m])), 1);
  return { t: reduce(pu.f, pv.f), tdot: wantDot ? reduce(pu.df!, pv.df!) : null };
}

/**
 * The quadrature KernelMap of phi (see the module comment for the two rules).
 * @example const tanh = quadratureKernelMap('Tanh', (x, d) => { const f = tg.tanh(x); return { f, df: d ? tg.sub(1, tg.mul(f, f)) : null }; });
 */
export function quadratureKernelMap(name: string, phi: PhiWithDerivative, rule: QuadratureRule = 'auto'): KernelMap {
  checkQuadratureRule(name, rule);
  return {
    name,
    method: rule === 'auto' ? 'quadrature: trapezoid rule scaled to each variance' : `quadrature: ${rule}-point Gauss-Hermite`,
    exactlySymmetric: false,
    expectations(s11In, s12In, s22In, wantDot) {
      const shape = [...broadcastShapes(name, broadcastShapes(name, s11In.shape, s12In.shape), s22In.shape)];
      const E = shape.reduce((x, y) => x * y, 1);
      const flat = (t: Tensor) => tg.reshape(tg.broadcastTo(t, shape), [E]);
      const s11 = tg.maximum(flat(s11In), 0);
      const s22 = tg.maximum(flat(s22In), 0);
      const s12 = flat(s12In);
      const a = safeSqrt(s11);
      const b = safeSqrt(s22);
      const p = tg.mul(a, b);
      const positive = tg.greater(p, 0);
      const c = tg.where(positive, tg.minimum(tg.maximum(tg.div(s12, tg.where(positive, p, 1)), -1), 1), 0);
      const s = safeSqrt(tg.mul(tg.sub(1, c), tg.add(1, c)));
      const bc = tg.mul(b, c);
      const bs = tg.mul(b, s);
      let rules: { z: number[]; w: number[] }[] | null = null;
      if (rule === 'auto') {
        const sd = tg.sqrt(tg.maximum(s11, s22));
        if (!sd.backend.readSync) {
          throw new Error(
            `${name}: the 'auto' quadrature picks each entry's rule from its variance on the host, which the ${sd.backend.name} backend cannot read synchronously; ` +
              'pass { quadrature: m } (m Gauss-Hermite points, e.g. 64) to compute this kernel on it',
          );
        }
        rules = Array.from(sd.dataSync(), autoRule);
      }
      const fixed = rule === 'auto' ? null : pruned(gaussHermite(rule));
      const longest = fixed ? fixed.z.length : rules!.reduce((x, r) => Math.max(x, r.z.length), 1);
      const chunk = Math.max(1, Math.floor(GRID_VALUES / (longest * (longest + 1))));
      const ts: Tensor[] = [];
      const ds: Tensor[] = [];
      for (let start = 0; start < E; start += chunk) {
        const end = Math.min(E, start + chunk);
        const part = (x: Tensor) => (start === 0 && end === E ? x : tg.slice(x, [start], [end]));
        const { z, w } = nodeTables(rules, fixed, start, end, s12);
        const r = integrate(phi, part(a), part(bc), part(bs), z, w, wantDot);
        ts.push(r.t);
        if (r.tdot) ds.push(r.tdot);
      }
      const back = (parts: Tensor[]) => tg.reshape(tg.concat(parts, 0), shape);
      return { t: back(ts), tdot: wantDot ? back(ds) : null };
    },
  };
}

/**
 * Tanh by quadrature, phi' = 1 - tanh^2 from the same evaluation.
 * @example tanhKernelMap(64)
 */
export function tanhKernelMap(rule: QuadratureRule = 'auto'): KernelMap {
  return quadratureKernelMap('Tanh', (x, wantDot) => {
    const f = tg.tanh(x);
    return { f, df: wantDot ? tg.sub(1, tg.mul(f, f)) : null };
  }, rule);
}

/**
 * Quadrature for an engine function fn (Tensor -> Tensor, elementwise): phi by running fn on the
 * quadrature points, phi' by the engine's reverse mode at those points (one VJP with a ones
 * cotangent: fn is elementwise), so exact derivatives and no finite differences.
 * @example const softplus = functionKernelMap('softplus', (x) => tg.log1p(tg.exp(x)));
 */
export function functionKernelMap(name: string, fn: (x: Tensor) => Tensor, rule: QuadratureRule = 'auto'): KernelMap {
  const check = (x: Tensor, y: unknown): Tensor => {
    if (!(y instanceof tg.Tensor) || y.rank !== x.rank || y.shape.some((d, i) => d !== x.shape[i])) {
      throw new Error(`${name}: the function must be elementwise (got ${y instanceof tg.Tensor ? `shape [${y.shape.join(',')}]` : typeof y} for [${x.shape.join(',')}])`);
    }
    return y;
  };
  return quadratureKernelMap(name, (x, wantDot) => {
    if (!wantDot) return { f: check(x, fn(x)), df: null };
    const [y, back] = tg.vjp(fn, x);
    try {
      const f = check(x, y);
      return { f, df: back(tg.onesLike(f))[0] as Tensor };
    } finally {
      back.dispose();
    }
  }, rule);
}
