/**
 * jacfwd / jacrev / hessian against central finite differences (float64, random shapes), each
 * other and closed forms; vmap against explicit loops over examples (per-example gradients and
 * JVPs), with shared arguments, other output axes, and gradients through vmap.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';

const f64 = (seed: number, shape: number[]) => tg.normal(tg.key(seed), shape, 'float64');
const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Central-difference Jacobian [...out, ...x] of g at x. */
function fdJacobian(g: (x: tg.Tensor) => tg.Tensor, x: tg.Tensor, h = 1e-6): Float64Array {
  const base = Float64Array.from(x.dataSync());
  const outSize = g(x).size;
  const J = new Float64Array(outSize * base.length);
  for (let e = 0; e < base.length; e++) {
    const at = (d: number) => {
      const v = Float64Array.from(base);
      v[e] += d;
      return g(tg.tensor(v, x.shape, 'float64')).dataSync();
    };
    const p = at(h);
    const m = at(-h);
    for (let o = 0; o < outSize; o++) J[o * base.length + e] = (p[o] - m[o]) / (2 * h);
  }
  return J;
}

describe('jacfwd / jacrev / hessian', () => {
  it('equal finite differences and each other for random shapes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (seed, a, b, c) => {
      const W = f64(seed, [b, c]);
      const g = (x: tg.Tensor) => tg.mul(tg.tanh(tg.matmul(x, W)), tg.sum(tg.sin(x)));
      const x = f64(seed + 1, [a, b]);
      const jf = tg.jacfwd(g)(x);
      const jr = tg.jacrev(g)(x);
      expect(jf.shape).toEqual([a, c, a, b]);
      expect(jr.shape).toEqual([a, c, a, b]);
      const fd = fdJacobian(g, x);
      expect(diff(jf.dataSync(), fd)).toBeLessThan(1e-7);
      expect(diff(jr.dataSync(), jf.dataSync())).toBeLessThan(1e-12);
    }), { numRuns: 25 });
  });

  it('differentiate any argument (argnums) and trees of parameters', () => {
    const x = f64(1, [3, 2]);
    const params = { w: f64(2, [2, 4]), b: f64(3, [4]) };
    const model = (p: typeof params, xx: tg.Tensor) => tg.tanh(tg.add(tg.matmul(xx, p.w), p.b));
    const jp = tg.jacrev(model)(params, x);
    const jpf = tg.jacfwd(model)(params, x);
    expect(jp.w.shape).toEqual([3, 4, 2, 4]);
    expect(jp.b.shape).toEqual([3, 4, 4]);
    expect(diff(jp.w.dataSync(), fdJacobian((w) => model({ w, b: params.b }, x), params.w))).toBeLessThan(1e-7);
    expect(diff(jp.b.dataSync(), fdJacobian((b) => model({ w: params.w, b }, x), params.b))).toBeLessThan(1e-7);
    expect(diff(jpf.w.dataSync(), jp.w.dataSync())).toBeLessThan(1e-12);
    const jx = tg.jacfwd(model, { argnums: 1 })(params, x);
    expect(jx.shape).toEqual([3, 4, 3, 2]);
    expect(diff(jx.dataSync(), fdJacobian((xx) => model(params, xx), x))).toBeLessThan(1e-7);
  });

  it('hessian: finite differences of the gradient, and closed forms (sum x^3 -> diag 6x; x^T A x / 2 -> (A + A^T) / 2)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 5 }), (seed, n) => {
      const x = f64(seed, [n]);
      const A = f64(seed + 1, [n, n]);
      const g = (u: tg.Tensor) => tg.add(tg.sum(tg.mul(tg.cos(u), tg.matmul(A, tg.reshape(u, [n, 1])) as tg.Tensor)), tg.sum(tg.exp(u)));
      const H = tg.hessian(g)(x);
      expect(H.shape).toEqual([n, n]);
      const fd = fdJacobian((u) => tg.grad(g)(u), x);
      expect(diff(H.dataSync(), fd)).toBeLessThan(1e-6);
      const cubic = tg.hessian((u: tg.Tensor) => tg.sum(tg.mul(tg.mul(u, u), u)))(x).dataSync();
      const xs = x.dataSync();
      expect(diff(cubic, Float64Array.from({ length: n * n }, (_, q) => (q % (n + 1) === 0 ? 6 * xs[q / (n + 1)] : 0)))).toBeLessThan(1e-12);
      const quad = tg.hessian((u: tg.Tensor) => tg.mul(tg.sum(tg.mul(u, tg.reshape(tg.matmul(A, tg.reshape(u, [n, 1])), [n]))), 0.5))(x).dataSync();
      const a = A.dataSync();
      expect(diff(quad, Float64Array.from({ length: n * n }, (_, q) => (a[q] + a[(q % n) * n + Math.floor(q / n)]) / 2))).toBeLessThan(1e-12);
    }), { numRuns: 20 });
    // A vector-valued function: [...out, ...x, ...x].
    expect(tg.hessian((u: tg.Tensor) => tg.mul(u, u))(f64(5, [3])).shape).toEqual([3, 3, 3]);
  });

  it('names bad input', () => {
    const x = f64(0, [2]);
    expect(() => tg.jacrev((u: tg.Tensor) => [u, u] as unknown as tg.Tensor)(x)).toThrow(/jacrev: the function must return one Tensor/);
    expect(() => tg.jacfwd((u: tg.Tensor) => u, { argnums: 2 })(x)).toThrow(/jacfwd: argnums 2 is out of range/);
    expect(() => tg.hessian((p: { a: tg.Tensor }) => tg.sum(p.a))({ a: x })).toThrow(/hessian: the differentiated argument must be one Tensor/);
    expect(() => tg.jacrev((u: tg.Tensor) => tg.cast(u, 'float64'))(tg.tensor(Int32Array.from([1, 2])))).toThrow(/int32 tensor/);
  });
});

describe('vmap', () => {
  type P = { w: tg.Tensor; b: tg.Tensor };
  const loss = (p: P, x: tg.Tensor, y: tg.Tensor) => tg.sum(tg.square(tg.sub(tg.tanh(tg.add(tg.matmul(tg.reshape(x, [1, -1]), p.w), p.b)), y)));

  it('per-example gradients equal a loop of grad over examples, and sum to the batch gradient', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (seed, B, d, k) => {
      const params = { w: f64(seed, [d, k]), b: f64(seed + 1, [k]) };
      const xs = f64(seed + 2, [B, d]);
      const ys = f64(seed + 3, [B, 1, k]);
      const g = tg.vmap((p: P, x: tg.Tensor, y: tg.Tensor) => tg.grad(loss)(p, x, y), [null, 0, 0])(params, xs, ys);
      expect(g.w.shape).toEqual([B, d, k]);
      expect(g.b.shape).toEqual([B, k]);
      for (let i = 0; i < B; i++) {
        const xi = tg.slice(xs, [i, 0], [i + 1, d]);
        const yi = tg.reshape(tg.slice(ys, [i, 0, 0], [i + 1, 1, k]), [1, k]);
        const gi = tg.grad(loss)(params, tg.reshape(xi, [d]), yi);
        expect(diff(tg.slice(g.w, [i, 0, 0], [i + 1, d, k]).dataSync(), gi.w.dataSync())).toBeLessThan(1e-12);
        expect(diff(tg.slice(g.b, [i, 0], [i + 1, k]).dataSync(), gi.b.dataSync())).toBeLessThan(1e-12);
      }
      const total = tg.grad((p: P) => tg.sum(tg.stack(Array.from({ length: B }, (_, i) => loss(p, tg.reshape(tg.slice(xs, [i, 0], [i + 1, d]), [d]), tg.reshape(tg.slice(ys, [i, 0, 0], [i + 1, 1, k]), [1, k]))))))(params);
      expect(diff(tg.sum(g.w, 0).dataSync(), total.w.dataSync())).toBeLessThan(1e-12);
    }), { numRuns: 20 });
  });

  it('per-example JVPs equal a loop, outAxes moves the mapped axis, and grad flows through vmap', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), (seed, B, d) => {
      const W = f64(seed, [d, 3]);
      const f = (x: tg.Tensor) => tg.sin(tg.matmul(tg.reshape(x, [1, d]), W));
      const xs = f64(seed + 1, [B, d]);
      const vs = f64(seed + 2, [B, d]);
      const jv = tg.vmap((x: tg.Tensor, v: tg.Tensor) => tg.jvp(f, [x], [v])[1])(xs, vs);
      expect(jv.shape).toEqual([B, 1, 3]);
      const loop = Array.from({ length: B }, (_, i) => {
        const row = (t: tg.Tensor) => tg.reshape(tg.slice(t, [i, 0], [i + 1, d]), [d]);
        return Array.from(tg.jvp(f, [row(xs)], [row(vs)])[1].dataSync());
      }).flat();
      expect(diff(jv.dataSync(), loop)).toBeLessThan(1e-12);
      const moved = tg.vmap((x: tg.Tensor) => tg.reshape(f(x), [3]), 1, 1)(tg.transpose(xs, [1, 0]));
      expect(moved.shape).toEqual([3, B]);
      expect(diff(tg.transpose(moved, [1, 0]).dataSync(), tg.vmap((x: tg.Tensor) => tg.reshape(f(x), [3]))(xs).dataSync())).toBeLessThan(1e-12);
      const gv = tg.grad((x: tg.Tensor) => tg.sum(tg.vmap(f)(x)))(xs);
      const gl = tg.grad((x: tg.Tensor) => tg.sum(f(x)))(tg.reshape(tg.slice(xs, [0, 0], [1, d]), [d]));
      expect(diff(tg.slice(gv, [0, 0], [1, d]).dataSync(), gl.dataSync())).toBeLessThan(1e-12);
    }), { numRuns: 20 });
  });

  it('names bad input', () => {
    const a = f64(0, [3, 2]);
    expect(() => tg.vmap((x: tg.Tensor, y: tg.Tensor) => tg.add(x, y))(a, f64(1, [4, 2]))).toThrow(/vmap: mapped axes differ in size: 3 and 4/);
    expect(() => tg.vmap((x: tg.Tensor) => x, null)(a)).toThrow(/no argument is mapped/);
    expect(() => tg.vmap((x: tg.Tensor) => x, 2)(a)).toThrow(/axis 2 is out of range for rank 2/);
    expect(() => tg.vmap((x: tg.Tensor) => x, [0, 0])(a)).toThrow(/inAxes has 2 entries for 1 argument/);
  });
});
