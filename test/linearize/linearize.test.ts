/**
 * The linearization traced once: f_lin, its JVP and its VJP walk one kept trace of f(params0, x)
 * per input batch. Laws: exact at params0, linear in params - params0, the transpose law between
 * the JVP and the VJP, agreement with re-tracing f on every call; f runs once per input batch;
 * repeated use keeps memory flat and dispose() gives it all back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { linearize, weightChange, type ApplyFn } from '../../linearize/linearize.ts';
import { ntkVp } from '../../linearize/ntk.ts';
import { dot, expectClose, maxAbs } from '../engine/util.ts';
import { convNet, mlp, residualNet, type TestNet } from './nets.ts';

const NETS: [string, (k: tg.Key, outputs: number) => TestNet][] = [
  ['mlp', (k, o) => mlp(k, [5, 7, 6], o)],
  ['conv', convNet],
  ['residual', residualNet],
];

/** f with a counter of how often it ran (a trace runs f once). */
function counted<P>(f: ApplyFn<P>): { f: ApplyFn<P>; calls: () => number } {
  let calls = 0;
  return {
    f: (p, x) => {
      calls++;
      return f(p, x);
    },
    calls: () => calls,
  };
}

const randomLike = (tree: unknown, seed: number, scale = 1): any => tg.treeMap(tree, (p, i) => tg.mul(tg.normal(tg.foldIn(tg.key(seed), i), p.shape, p.dtype), scale));
const plus = (a: unknown, b: unknown): any => tg.treeZip([a, b], ([x, y]) => tg.add(x, y));
const treeDot = (a: unknown, b: unknown): number => tg.treeLeaves(a).reduce((s, leaf, i) => s + dot(leaf.dataSync(), tg.treeLeaves(b)[i].dataSync()), 0);

/** The linearization as it was before: one fresh JVP trace of f per call. */
function retraced<P>(f: ApplyFn<P>, params0: P, params: P, x: Tensor): Tensor {
  const delta = tg.treeZip([params, params0], ([p, p0]) => tg.sub(p, p0));
  const [f0, df] = tg.jvp((p: P) => f(p, x), [params0], [delta]);
  return tg.add(f0, df);
}

describe.each(NETS)('linearize (%s network): laws of the traced-once linearization', (_name, build) => {
  it('exact at params0, linear in params - params0, equal to re-tracing f, and <u, J v> = <J^T u, v>', () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.double({ min: -2, max: 2, noNaN: true }),
      (seed, outputs, n, a) => tg.tidy(() => {
        const net = build(tg.key(seed), outputs);
        const x = net.input(tg.key(seed + 1), n);
        const fLin = linearize(net.apply, net.params);
        const f0 = net.apply(net.params, x).dataSync();
        expectClose(fLin(net.params, x).dataSync(), f0, 1e-13, 1e-13, 'f_lin(params0) = f(params0)');

        const d1 = randomLike(net.params, seed + 2, 0.3);
        const d2 = randomLike(net.params, seed + 3, 0.3);
        const change = (d: unknown) => tg.sub(fLin(plus(net.params, d), x), fLin(net.params, x));
        const combined = tg.treeZip([d1, d2], ([u, v]) => tg.add(tg.mul(u, a), v));
        const expected = tg.add(tg.mul(change(d1), a), change(d2)).dataSync();
        expectClose(change(combined).dataSync(), expected, 1e-10, 1e-10 * (1 + maxAbs(expected)), 'linear in the displacement');

        const moved = plus(net.params, d1);
        expectClose(fLin(moved, x).dataSync(), retraced(net.apply, net.params, moved, x).dataSync(), 1e-12, 1e-12, 'same as re-tracing f');

        const v = randomLike(net.params, seed + 4);
        const u = tg.normal(tg.key(seed + 5), [n, outputs], 'float64');
        const jv = fLin.jvp(x, v);
        const jtu = fLin.vjp(x, u);
        const lhs = dot(u.dataSync(), jv.dataSync());
        expect(Math.abs(lhs - treeDot(jtu, v))).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
        // J v from the kept trace is the JVP of f at params0; J^T u the VJP.
        expectClose(jv.dataSync(), tg.jvp((p: unknown) => net.apply(p, x), [net.params], [v])[1].dataSync(), 1e-12, 1e-12, 'jvp');
        const [, back] = tg.vjp((p: unknown) => net.apply(p, x), net.params);
        tg.treeLeaves(back(u)[0]).forEach((g, i) => expectClose(tg.treeLeaves(jtu)[i].dataSync(), g.dataSync(), 1e-12, 1e-12, `vjp leaf ${i}`));
      })), { numRuns: 5 });
  });

  it('runs f once per input batch, whatever it evaluates, differentiates or transposes', () => {
    tg.tidy(() => {
      const net = build(tg.key(7), 2);
      const { f, calls } = counted(net.apply);
      const xa = net.input(tg.key(8), 3);
      const xb = net.input(tg.key(9), 2);
      const fLin = linearize(f, net.params);
      const y = tg.normal(tg.key(10), [3, 2], 'float64');
      let params = net.params;
      for (let step = 0; step < 4; step++) {
        const g = tg.grad((p: unknown) => tg.mse(fLin(p, xa), y, 'sum/2'))(params);
        params = tg.treeZip([params, g], ([p, gp]) => tg.sub(p, tg.mul(gp, 0.01)));
        fLin(params, xb);
        fLin.jvp(xa, params);
        fLin.vjp(xb, tg.ones([2, 2], 'float64'));
      }
      expect(calls()).toBe(2);
      expect(fLin.cachedInputs).toBe(2);
    });
  });
});

describe('linearize: cache and memory', () => {
  it('repeated calls keep the live tensors flat, and dispose() returns to the count before linearize', () => {
    const net = mlp(tg.key(1), [4, 6], 2);
    const params0 = tg.keep(net.params);
    const x = tg.keep(net.input(tg.key(2), 5));
    const y = tg.keep(tg.normal(tg.key(3), [5, 2], 'float64'));
    const tensors = tg.liveTensorCount();
    const storages = tg.getBackend().liveCount();
    const fLin = linearize(net.apply, params0);
    let params: unknown = params0;
    const step = () => {
      const next = tg.tidy(() => {
        const g = tg.grad((p: unknown) => tg.mse(fLin(p, x), y, 'sum/2'))(params);
        const ntk = tg.sum(fLin.jvp(x, fLin.vjp(x, y)));
        ntk.dispose();
        return tg.keep(tg.treeZip([params, g], ([p, gp]) => tg.sub(p, tg.mul(gp, 0.01))));
      });
      if (params !== params0) tg.dispose(params);
      params = next;
    };
    step();
    const warm = tg.liveTensorCount();
    const warmStorages = tg.getBackend().liveCount();
    for (let i = 0; i < 30; i++) step();
    expect(tg.liveTensorCount()).toBe(warm);
    expect(tg.getBackend().liveCount()).toBe(warmStorages);
    tg.dispose(params);
    fLin.dispose();
    expect(tg.liveTensorCount()).toBe(tensors);
    expect(tg.getBackend().liveCount()).toBe(storages);
    // After dispose it traces again.
    const again = tg.tidy(() => fLin(params0, x).dataSync());
    expectClose(again, tg.tidy(() => net.apply(params0, x).dataSync()), 1e-14, 1e-14, 'after dispose');
    fLin.dispose();
    tg.dispose([params0, x, y]);
  });

  it('created inside a tidy, its traces are freed when the tidy closes', () => {
    const before = tg.liveTensorCount();
    tg.tidy(() => {
      const net = mlp(tg.key(4), [3, 5], 1);
      const fLin = linearize(net.apply, net.params);
      fLin(net.params, net.input(tg.key(5), 2));
      expect(fLin.cachedInputs).toBe(1);
    });
    expect(tg.liveTensorCount()).toBe(before);
  });

  it('evicts the least recently used trace, also while a gradient is being traced through it, and stays correct', () => {
    const before = tg.liveTensorCount();
    tg.tidy(() => {
      const net = mlp(tg.key(6), [3, 5, 4], 2);
      const { f, calls } = counted(net.apply);
      const xs = [0, 1, 2].map((i) => net.input(tg.key(20 + i), 2 + i));
      const fLin = linearize(f, net.params, { cacheSize: 1 });
      const moved = plus(net.params, randomLike(net.params, 9, 0.2));
      // One loss over three batches with room for one trace: the first two traces are evicted
      // while grad still has to walk back through the ops that read them; the first was traced
      // before grad began, so grad did not create (and pin) its tensors.
      fLin(moved, xs[0]);
      const loss = (p: unknown) => xs.map((x) => tg.sum(tg.square(fLin(p, x)))).reduce((s, t) => tg.add(s, t));
      const reference = (p: unknown) => xs.map((x) => tg.sum(tg.square(retraced(net.apply, net.params, p, x)))).reduce((s, t) => tg.add(s, t));
      const g = tg.grad(loss)(moved);
      const gRef = tg.grad(reference)(moved);
      tg.treeLeaves(g).forEach((leaf, i) => expectClose(leaf.dataSync(), tg.treeLeaves(gRef)[i].dataSync(), 1e-12, 1e-12, `grad leaf ${i}`));
      expect(calls()).toBe(3);
      expect(fLin.cachedInputs).toBe(1);
      fLin(moved, xs[2]);
      expect(calls()).toBe(3);
      fLin(moved, xs[0]);
      expect(calls()).toBe(4);
    });
    expect(tg.liveTensorCount()).toBe(before);
  });

  it('names the operation and the shapes on bad input', () => {
    tg.tidy(() => {
      const net = mlp(tg.key(0), [3, 4], 2);
      const x = net.input(tg.key(1), 2);
      expect(() => linearize(net.apply, net.params, { cacheSize: 0 })).toThrow(/linearize: cacheSize must be an integer >= 1, got 0/);
      const fLin = linearize(net.apply, net.params);
      expect(() => fLin.vjp(x, tg.zeros([3, 2], 'float64'))).toThrow(/linearize.vjp: the cotangent float64\[3,2\] must match the output float64\[2,2\] of f at x/);
      expect(() => fLin.jvp(x, [{ w: 1 }])).toThrow(/linearize.jvp: tangent at params must be an array of length 2/);
      const wrong = tg.treeMap(net.params, (p) => tg.zeros([...p.shape, 1], 'float64'));
      expect(() => fLin(wrong, x)).toThrow(/linearize: parameter float64\[4,1\] does not match the linearization point float64\[4\]/);
    });
  });
});

describe('ntkVp and weightChange reuse one trace', () => {
  it('ntkVp traces f once per batch for any number of vectors, and equals J(x1) J(x2)^T v', () => {
    tg.tidy(() => {
      const net = convNet(tg.key(3), 2);
      const { f, calls } = counted(net.apply);
      const x1 = net.input(tg.key(4), 3);
      const x2 = net.input(tg.key(5), 2);
      const product = ntkVp(f, net.params, x1, x2);
      for (let i = 0; i < 5; i++) {
        const v = tg.normal(tg.key(40 + i), [2, 2], 'float64');
        const [, back] = tg.vjp((p: unknown) => net.apply(p, x2), net.params);
        const expected = tg.jvp((p: unknown) => net.apply(p, x1), [net.params], [back(v)[0]])[1];
        expectClose(product(v).dataSync(), expected.dataSync(), 1e-12, 1e-12, `Theta v, vector ${i}`);
      }
      expect(calls()).toBe(2);
      expect(() => product(tg.zeros([3, 2], 'float64'))).toThrow(/ntkVp: v \[3,2\] must have the output shape of f at x2 \[2,2\]/);
    });
  });

  it('weightChange of a batch of coefficients equals one call per coefficient, tracing f once', () => {
    tg.tidy(() => {
      const net = residualNet(tg.key(8), 2);
      const x = net.input(tg.key(9), 3);
      const cs = [0, 1, 2, 3].map((i) => tg.normal(tg.key(50 + i), [3, 2], 'float64'));
      const { f, calls } = counted(net.apply);
      const batch = weightChange(f, net.params, x, cs);
      expect(calls()).toBe(1);
      expect(batch.length).toBe(cs.length);
      cs.forEach((c, i) => {
        const single = weightChange(net.apply, net.params, x, c);
        tg.treeLeaves(single).forEach((leaf, j) => expectClose(tg.treeLeaves(batch[i])[j].dataSync(), leaf.dataSync(), 0, 0, `coefficient ${i} leaf ${j}`));
      });
      // omega = -J^T c: <omega, v> = -<c, J v>.
      const v = randomLike(net.params, 60);
      const jv = tg.jvp((p: unknown) => net.apply(p, x), [net.params], [v])[1].dataSync();
      cs.forEach((c, i) => {
        const expected = -dot(c.dataSync(), jv);
        expect(Math.abs(treeDot(batch[i], v) - expected)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(expected)));
      });
    });
  });
});
