/**
 * PAPER.md section 10, identities 2-4: the linearized network, and the empirical NTK three ways
 * (Jacobian contraction, NTK-vector products, structured) on dense, conv and residual models.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { empiricalNtk, ntkVp } from '../../linearize/ntk.ts';
import { structuredNtkPlan } from '../../linearize/ntk-structured.ts';
import { linearize, weightChange } from '../../linearize/linearize.ts';
import { expectClose } from '../engine/util.ts';
import { convNet, mlp, residualNet, sharedNet, type TestNet } from './nets.ts';

const NETS: [string, (k: tg.Key, outputs: number) => TestNet][] = [
  ['mlp', (k, o) => mlp(k, [5, 7, 6], o)],
  ['conv', convNet],
  ['residual', residualNet],
  ['shared weights (fallback)', sharedNet],
];

function transposeOf(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

describe.each(NETS)('empirical NTK of the %s network', (_name, build) => {
  it('contraction = NTK-vector products = structured, full and traced, with blocks that do not divide N', () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.boolean(),
      (seed, outputs, n1, n2, traced) => tg.tidy(() => {
        const net = build(tg.key(seed), outputs);
        const x1 = net.input(tg.key(seed + 1), n1);
        const x2 = net.input(tg.key(seed + 2), n2);
        const opts = { trace: traced, blockSize: 3 };
        const c = empiricalNtk(net.apply, net.params, x1, x2, { ...opts, method: 'contraction' });
        const v = empiricalNtk(net.apply, net.params, x1, x2, { ...opts, method: 'ntkvp' });
        const s = empiricalNtk(net.apply, net.params, x1, x2, { ...opts, method: 'structured', blockSize: 2 });
        const shape = traced ? [n1, n2] : [n1 * outputs, n2 * outputs];
        expect([...c.shape]).toEqual(shape);
        expect([...s.shape]).toEqual(shape);
        const scale = Math.max(...Array.from(c.dataSync(), Math.abs));
        expectClose(v.dataSync(), c.dataSync(), 1e-9, 1e-9 * scale, 'ntkvp vs contraction');
        expectClose(s.dataSync(), c.dataSync(), 1e-9, 1e-9 * scale, 'structured vs contraction');
      })), { numRuns: 6 });
  });

  it('Theta is symmetric PSD, Theta(X1, X2) = Theta(X2, X1)^T, and ntkVp(v) = Theta v', () => {
    tg.tidy(() => {
      const outputs = 2;
      const net = build(tg.key(11), outputs);
      const x1 = net.input(tg.key(12), 4);
      const x2 = net.input(tg.key(13), 3);
      const theta = empiricalNtk(net.apply, net.params, x1, x1);
      const m = 4 * outputs;
      const t = theta.dataSync();
      expectClose(t, transposeOf(t, m, m), 1e-12, 1e-12, 'symmetry');
      // PSD: v^T Theta v >= 0 for random v (and Theta = J J^T makes it exact up to round-off).
      for (let s = 0; s < 10; s++) {
        const v = tg.normal(tg.key(100 + s), [m, 1], 'float64');
        expect(tg.matmul(tg.matmul(v, theta, { transposeA: true }), v).itemSync()).toBeGreaterThanOrEqual(-1e-10);
      }
      const t12 = empiricalNtk(net.apply, net.params, x1, x2).dataSync();
      const t21 = empiricalNtk(net.apply, net.params, x2, x1).dataSync();
      expectClose(t12, transposeOf(t21, 3 * outputs, 4 * outputs), 1e-12, 1e-12, 'Theta(X1,X2) = Theta(X2,X1)^T');
      const v = tg.normal(tg.key(7), [3, outputs], 'float64');
      const tv = ntkVp(net.apply, net.params, x1, x2)(v);
      const expected = tg.reshape(tg.matmul(tg.tensor(t12, [4 * outputs, 3 * outputs], 'float64'), tg.reshape(v, [-1, 1])), [4, outputs]);
      expectClose(tv.dataSync(), expected.dataSync(), 1e-10, 1e-10, 'ntk_vp');
    });
  });
});

describe('structured NTK rules', () => {
  it('cover dense, conv and bias parameters without falling back; shared weights fall back', () => {
    tg.tidy(() => {
      const m = mlp(tg.key(1), [3, 4], 2);
      expect(structuredNtkPlan(m.apply, m.params, m.input(tg.key(2), 2))).toEqual(['bias', 'dense', 'bias', 'dense']);
      const c = convNet(tg.key(1), 2);
      expect(structuredNtkPlan(c.apply, c.params, c.input(tg.key(2), 2))).toEqual(['bias', 'conv', 'conv', 'bias', 'dense']);
      const r = residualNet(tg.key(1), 2);
      expect(structuredNtkPlan(r.apply, r.params, r.input(tg.key(2), 2))).toEqual(['conv', 'conv', 'bias', 'dense']);
      const s = sharedNet(tg.key(1), 2);
      expect(structuredNtkPlan(s.apply, s.params, s.input(tg.key(2), 2))).toEqual(['fallback', 'dense', 'fallback']);
    });
  });
});

describe('linearize', () => {
  it('f_lin(params0) = f(params0), and its Jacobian is J0 (JVP of f_lin at any params = JVP of f at params0)', () => {
    fc.assert(fc.property(fc.nat(), (seed) => tg.tidy(() => {
      const net = mlp(tg.key(seed), [4, 6], 2);
      const x = net.input(tg.key(seed + 1), 3);
      const fLin = linearize(net.apply, net.params);
      expectClose(fLin(net.params, x).dataSync(), net.apply(net.params, x).dataSync(), 1e-13, 1e-13, 'f_lin(theta0)');
      const dir = tg.treeMap(net.params, (p, i) => tg.normal(tg.key(seed + 10 + i), p.shape, 'float64'));
      const moved = tg.treeZip([net.params, dir], ([p, d]) => tg.add(p, d));
      const [, jLin] = tg.jvp((p: unknown) => fLin(p, x), [moved], [dir]);
      const [, j0] = tg.jvp((p: unknown) => net.apply(p, x), [net.params], [dir]);
      expectClose(jLin.dataSync(), j0.dataSync(), 1e-12, 1e-12, 'J_lin = J0');
    })), { numRuns: 8 });
  });

  it('is exact for a model linear in its parameters', () => {
    fc.assert(fc.property(fc.nat(), (seed) => tg.tidy(() => {
      const [k1, k2, k3] = tg.split(tg.key(seed), 3);
      const features = (x: Tensor) => tg.concat([tg.tanh(x), tg.square(x)], 1);
      const f = (p: { w: Tensor; b: Tensor }, x: Tensor) => tg.add(tg.matmul(features(x), p.w), p.b);
      const p0 = { w: tg.normal(k1, [6, 2], 'float64'), b: tg.normal(k2, [2], 'float64') };
      const p1 = tg.treeMap(p0, (t, i) => tg.add(t, tg.normal(tg.foldIn(k3, i), t.shape, 'float64')));
      const x = tg.normal(tg.foldIn(k3, 9), [5, 3], 'float64');
      expectClose(linearize(f, p0)(p1, x).dataSync(), f(p1, x).dataSync(), 1e-12, 1e-12, 'exact');
    })), { numRuns: 8 });
  });

  it('can be trained by gradient descent: each step follows f_lin <- f_lin - eta Theta (f_lin - Y) exactly', () => {
    tg.tidy(() => {
      const net = mlp(tg.key(3), [4, 8, 8], 1);
      const x = net.input(tg.key(4), 6);
      const y = tg.normal(tg.key(5), [6, 1], 'float64');
      const fLin = linearize(net.apply, net.params);
      const theta = empiricalNtk(net.apply, net.params, x, x);
      const eta = 0.05;
      let params = net.params;
      let fPred = net.apply(net.params, x);
      for (let step = 0; step < 5; step++) {
        const g = tg.grad((p: unknown) => tg.mse(fLin(p, x), y, 'sum/2'))(params);
        params = tg.treeZip([params, g], ([p, gp]) => tg.sub(p, tg.mul(gp, eta)));
        // Function space: f <- f - eta Theta (f - y) (sum/2 loss).
        fPred = tg.sub(fPred, tg.mul(tg.matmul(theta, tg.sub(fPred, y)), eta));
        expectClose(fLin(params, x).dataSync(), fPred.dataSync(), 1e-10, 1e-10, `step ${step}`);
      }
    });
  });

  it('weight change omega = -J^T c moves f_lin by -Theta c (identity 7 in weight space)', () => {
    tg.tidy(() => {
      const net = convNet(tg.key(21), 2);
      const x = net.input(tg.key(22), 3);
      const c = tg.normal(tg.key(23), [3, 2], 'float64');
      const omega = weightChange(net.apply, net.params, x, c);
      const moved = tg.treeZip([net.params, omega], ([p, w]) => tg.add(p, w));
      const fLin = linearize(net.apply, net.params);
      const change = tg.sub(fLin(moved, x), net.apply(net.params, x));
      const theta = empiricalNtk(net.apply, net.params, x, x);
      const expected = tg.neg(tg.reshape(tg.matmul(theta, tg.reshape(c, [-1, 1])), [3, 2]));
      expectClose(change.dataSync(), expected.dataSync(), 1e-10, 1e-10, 'omega');
    });
  });
});

describe('errors', () => {
  it('names the op and the shapes', () => {
    const net = mlp(tg.key(0), [3, 4], 1);
    expect(() => empiricalNtk(net.apply, net.params, tg.zeros([2, 3], 'float64'), tg.zeros([2, 4], 'float64'))).toThrow(/empiricalNtk: x1 float64\[2,3\] and x2 float64\[2,4\]/);
    expect(() => empiricalNtk((p: any, x: Tensor) => tg.sum(net.apply(p, x)), net.params, tg.zeros([2, 3], 'float64'))).toThrow(/empiricalNtk: the network must map a batch of 2 inputs to outputs \[2, K\], got \[\]/);
    expect(() => empiricalNtk(net.apply, net.params, tg.zeros([2, 3], 'float64'), undefined, { method: 'magic' as never })).toThrow(/unknown method 'magic'/);
  });
});

describe('weightChange coefficients', () => {
  it('accepts a float64 coefficient matrix for a float32 network, and rejects a wrong size', () => {
    tg.tidy(() => {
      const net = mlp(tg.key(2), [3, 5], 2);
      const p32 = tg.treeMap(net.params, (p) => tg.cast(p, 'float32'));
      const x = tg.cast(net.input(tg.key(3), 4), 'float32');
      const c = { rows: 8, cols: 1, data: Float64Array.from({ length: 8 }, (_, i) => i / 8 - 0.5) };
      const fromMatrix = weightChange(net.apply, p32, x, c);
      const fromTensor = weightChange(net.apply, p32, x, tg.tensor(Float32Array.from(c.data), [4, 2]));
      tg.treeLeaves(fromMatrix).forEach((leaf, i) => {
        expect(leaf.dtype).toBe('float32');
        expectClose(leaf.dataSync(), tg.treeLeaves(fromTensor)[i].dataSync(), 0, 0, 'same omega');
      });
      expect(() => weightChange(net.apply, p32, x, { rows: 3, cols: 1, data: new Float64Array(3) })).toThrow(/weightChange: a 3x1 coefficient matrix does not match the output \[4,2\] \(8 entries\)/);
    });
  });
});
