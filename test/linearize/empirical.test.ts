/**
 * The empirical kernel factories against an independent float64 reference: per-sample
 * Jacobians by central finite differences, contracted by explicit loops, then traced (mean over
 * outputs) or diagonalized as neural-tangents does; the NNGP against loops over the outputs; and
 * batch() over them against the unbatched kernels.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';
import { empiricalKernelFn, empiricalNngpFn, empiricalNtkFn } from '../../linearize/empirical.ts';
import type { NtkMethod } from '../../linearize/ntk.ts';
import { batch } from '../../models/kernels/batch.ts';
import { mlp } from './nets.ts';

/** Jacobian [N, K, P] of f(params, x) by central differences over every parameter entry. */
function fdJacobian(apply: (p: unknown, x: tg.Tensor) => tg.Tensor, params: unknown, x: tg.Tensor): { J: Float64Array; n: number; k: number; p: number } {
  const leaves = tg.treeLeaves(params);
  const values = leaves.map((l) => Float64Array.from(l.dataSync()));
  const P = values.reduce((a, v) => a + v.length, 0);
  const out0 = apply(params, x);
  const n = out0.shape[0];
  const k = out0.size / n;
  const J = new Float64Array(n * k * P);
  const h = 1e-5;
  let col = 0;
  values.forEach((v, li) => {
    for (let e = 0; e < v.length; e++, col++) {
      const at = (delta: number) => {
        let idx = 0;
        const tree = tg.treeMap(params, (leaf) => {
          const data = Float64Array.from(values[idx]);
          if (idx === li) data[e] += delta;
          idx++;
          return tg.tensor(data, leaf.shape, 'float64');
        });
        return apply(tree, x).dataSync();
      };
      const plus = at(h);
      const minus = at(-h);
      for (let r = 0; r < n * k; r++) J[r * P + col] = (plus[r] - minus[r]) / (2 * h);
    }
  });
  return { J, n, k, p: P };
}

/** Theta[i, j, a, b] = sum_p J1[i, a, p] J2[j, b, p]. */
function fullNtk(j1: ReturnType<typeof fdJacobian>, j2: ReturnType<typeof fdJacobian>): Float64Array {
  const { n: n1, k, p } = j1;
  const n2 = j2.n;
  const out = new Float64Array(n1 * n2 * k * k);
  for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
    let s = 0;
    for (let q = 0; q < p; q++) s += j1.J[(i * k + a) * p + q] * j2.J[(j * k + b) * p + q];
    out[((i * n2 + j) * k + a) * k + b] = s;
  }
  return out;
}

const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Reductions of a full [N1, N2, K, K] array, as neural-tangents' trace (mean) and diagonal. */
function reduce(full: Float64Array, n1: number, n2: number, k: number, mode: 'trace' | 'diagOut' | 'diagBatch' | 'diagBatchTrace' | 'diagBoth'): Float64Array {
  const at = (i: number, j: number, a: number, b: number) => full[((i * n2 + j) * k + a) * k + b];
  const out: number[] = [];
  if (mode === 'trace') for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) { let s = 0; for (let a = 0; a < k; a++) s += at(i, j, a, a); out.push(s / k); }
  if (mode === 'diagOut') for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let a = 0; a < k; a++) out.push(at(i, j, a, a));
  if (mode === 'diagBatch') for (let i = 0; i < n1; i++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) out.push(at(i, i, a, b));
  if (mode === 'diagBatchTrace') for (let i = 0; i < n1; i++) { let s = 0; for (let a = 0; a < k; a++) s += at(i, i, a, a); out.push(s / k); }
  if (mode === 'diagBoth') for (let i = 0; i < n1; i++) for (let a = 0; a < k; a++) out.push(at(i, i, a, a));
  return Float64Array.from(out);
}

describe('empiricalNtkFn / empiricalNngpFn / empiricalKernelFn', () => {
  it('every trace / diagonal layout equals finite-difference Jacobians contracted by loops (random sizes, methods)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom<NtkMethod>('structured', 'contraction', 'ntkvp'), (seed, n1, n2, k, method) => {
      const net = mlp(tg.key(seed), [3, 4], k);
      const x1 = net.input(tg.key(seed + 1), n1);
      const x2 = net.input(tg.key(seed + 2), n2);
      const j1 = fdJacobian(net.apply, net.params, x1);
      const j2 = fdJacobian(net.apply, net.params, x2);
      const full = fullNtk(j1, j2);
      const tol = 1e-6 * Math.max(1, ...Array.from(full, Math.abs));
      const full11 = fullNtk(j1, j1);
      const kfull = empiricalNtkFn(net.apply, { traceAxes: [], method })(x1, x2, net.params);
      expect(kfull.shape).toEqual([n1, n2, k, k]);
      expect(diff(kfull.dataSync(), full)).toBeLessThan(tol);
      expect(diff(empiricalNtkFn(net.apply, { method })(x1, x2, net.params).dataSync(), reduce(full, n1, n2, k, 'trace'))).toBeLessThan(tol);
      expect(diff(empiricalNtkFn(net.apply, { traceAxes: [], diagonalAxes: [-1], method })(x1, x2, net.params).dataSync(), reduce(full, n1, n2, k, 'diagOut'))).toBeLessThan(tol);
      const batchDiag = empiricalNtkFn(net.apply, { traceAxes: [], diagonalAxes: [0], method })(x1, null, net.params);
      expect(batchDiag.shape).toEqual([n1, k, k]);
      expect(diff(batchDiag.dataSync(), reduce(full11, n1, n1, k, 'diagBatch'))).toBeLessThan(tol);
      expect(diff(empiricalNtkFn(net.apply, { diagonalAxes: [0], method })(x1, null, net.params).dataSync(), reduce(full11, n1, n1, k, 'diagBatchTrace'))).toBeLessThan(tol);
      expect(diff(empiricalNtkFn(net.apply, { traceAxes: [], diagonalAxes: [0, 1], method })(x1, undefined, net.params).dataSync(), reduce(full11, n1, n1, k, 'diagBoth'))).toBeLessThan(tol);
    }), { numRuns: 12 });
  });

  it('the NNGP is the outer product of outputs, reduced the same ways; empiricalKernelFn gives both', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (seed, n1, n2, k) => {
      const net = mlp(tg.key(seed), [3, 5], k);
      const x1 = net.input(tg.key(seed + 1), n1);
      const x2 = net.input(tg.key(seed + 2), n2);
      const f1 = net.apply(net.params, x1).dataSync();
      const f2 = net.apply(net.params, x2).dataSync();
      const full = new Float64Array(n1 * n2 * k * k);
      for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) full[((i * n2 + j) * k + a) * k + b] = f1[i * k + a] * f2[j * k + b];
      expect(diff(empiricalNngpFn(net.apply, { traceAxes: [] })(x1, x2, net.params).dataSync(), full)).toBeLessThan(1e-12);
      expect(diff(empiricalNngpFn(net.apply)(x1, x2, net.params).dataSync(), reduce(full, n1, n2, k, 'trace'))).toBeLessThan(1e-12);
      expect(diff(empiricalNngpFn(net.apply, { traceAxes: [], diagonalAxes: [1] })(x1, x2, net.params).dataSync(), reduce(full, n1, n2, k, 'diagOut'))).toBeLessThan(1e-12);
      const m = Math.min(n1, n2);
      const x1m = tg.slice(x1, [0, 0], [m, 3]);
      const x2m = tg.slice(x2, [0, 0], [m, 3]);
      const sub = new Float64Array(m * m * k * k);
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) sub[((i * m + j) * k + a) * k + b] = f1[i * k + a] * f2[j * k + b];
      expect(diff(empiricalNngpFn(net.apply, { traceAxes: [], diagonalAxes: [0] })(x1m, x2m, net.params).dataSync(), reduce(sub, m, m, k, 'diagBatch'))).toBeLessThan(1e-12);
      expect(diff(empiricalNngpFn(net.apply, { diagonalAxes: [0] })(x1m, x2m, net.params).dataSync(), reduce(sub, m, m, k, 'diagBatchTrace'))).toBeLessThan(1e-12);
      const both = empiricalKernelFn(net.apply)(x1, x2, null, net.params);
      expect(diff(both.nngp!.dataSync(), reduce(full, n1, n2, k, 'trace'))).toBeLessThan(1e-12);
      expect(diff(both.ntk!.dataSync(), empiricalNtkFn(net.apply)(x1, x2, net.params).dataSync())).toBeLessThan(1e-12);
      expect(diff(empiricalKernelFn(net.apply)(x1, x2, 'ntk', net.params).dataSync(), both.ntk!.dataSync())).toBeLessThan(1e-12);
    }), { numRuns: 15 });
  });

  it('batch(...) over empirical kernel functions equals the unbatched kernel (cross, symmetric, batch diagonal)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), (seed, n1, n2, block) => {
      const net = mlp(tg.key(seed), [3, 4], 2);
      const x1 = net.input(tg.key(seed + 1), n1);
      const x2 = net.input(tg.key(seed + 2), n2);
      const ntkFn = empiricalNtkFn(net.apply, { traceAxes: [] });
      expect(diff(batch(ntkFn, block)(x1, x2, net.params).dataSync(), ntkFn(x1, x2, net.params).dataSync())).toBeLessThan(1e-12);
      expect(diff(batch(ntkFn, block)(x1, null, net.params).dataSync(), ntkFn(x1, null, net.params).dataSync())).toBeLessThan(1e-12);
      const diagFn = empiricalNtkFn(net.apply, { diagonalAxes: [0] });
      expect(diff(batch(diagFn, block)(x1, null, net.params).dataSync(), diagFn(x1, null, net.params).dataSync())).toBeLessThan(1e-12);
      const kernelFn = empiricalKernelFn(net.apply);
      const batched = batch(kernelFn, block)(x1, x2, ['nngp', 'ntk'], net.params);
      const plain = kernelFn(x1, x2, ['nngp', 'ntk'], net.params);
      expect(diff(batched.nngp!.dataSync(), plain.nngp!.dataSync())).toBeLessThan(1e-12);
      expect(diff(batched.ntk!.dataSync(), plain.ntk!.dataSync())).toBeLessThan(1e-12);
    }), { numRuns: 15 });
  });

  it('outputs of any rank ([N, H, W, C] of a conv): zipped full NTK / NNGP and per-axis trace / diagonal against finite differences and loops', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom<[number[], number[]]>([[], []], [[-1], []], [[-1], [1]], [[2], [-1]], [[1, 3], [2]], [[-1], [0]]), (seed, n1, n2, [traceAxes, diagonalAxes]) => {
      const params = { w: tg.normal(tg.key(seed), [2, 2, 2, 2], 'float64'), b: tg.normal(tg.key(seed + 1), [2], 'float64') };
      const apply = (p: typeof params, x: tg.Tensor) => tg.tanh(tg.add(tg.conv2d(x, tg.mul(p.w, 0.5), { padding: 'SAME' }), p.b));
      const x1 = tg.normal(tg.key(seed + 2), [n1, 2, 3, 2], 'float64');
      const x2 = diagonalAxes.includes(0) ? null : tg.normal(tg.key(seed + 3), [n2, 2, 3, 2], 'float64');
      const S = [2, 3, 2];
      const P = S.reduce((a, b) => a * b, 1);
      const j1 = fdJacobian(apply as never, params, x1);
      const j2 = x2 ? fdJacobian(apply as never, params, x2) : j1;
      const m2 = x2 ? n2 : n1;
      const f1 = apply(params, x1).dataSync();
      const f2 = x2 ? apply(params, x2).dataSync() : f1;
      let useNngp = false;
      const theta = (i: number, j: number, a: number[], b: number[]) => {
        if (useNngp) return f1[i * P + (a[0] * 3 + a[1]) * 2 + a[2]] * f2[j * P + (b[0] * 3 + b[1]) * 2 + b[2]];
        const flat = (idx: number[]) => (idx[0] * 3 + idx[1]) * 2 + idx[2];
        let acc = 0;
        for (let q = 0; q < j1.p; q++) acc += j1.J[(i * P + flat(a)) * j1.p + q] * j2.J[(j * P + flat(b)) * j1.p + q];
        return acc;
      };
      const canon = (axes: number[]) => axes.map((a) => (a < 0 ? a + 4 : a));
      const tr = canon(traceAxes);
      const dg = canon(diagonalAxes);
      // Reference by enumeration: result entries in row-major order (batch pair or batch diagonal, then
      // per output axis both indices, one index, or none), each the mean over the traced indices.
      const ref: number[] = [];
      const traced = [0, 1, 2].filter((axis) => tr.includes(axis + 1));
      const meanOverTraced = (i: number, j: number, a: number[], b: number[]) => {
        const combos = traced.reduce((acc, axis) => acc.flatMap((c) => Array.from({ length: S[axis] }, (_, v) => [...c, v])), [[]] as number[][]);
        let sum = 0;
        for (const c of combos) {
          const aa = [...a];
          const bb = [...b];
          traced.forEach((axis, q) => { aa[axis] = c[q]; bb[axis] = c[q]; });
          sum += theta(i, j, aa, bb);
        }
        return sum / combos.length;
      };
      const kept = (i: number, j: number, axis: number, a: number[], b: number[]) => {
        if (axis === 3) return void ref.push(meanOverTraced(i, j, a, b));
        if (tr.includes(axis + 1)) return kept(i, j, axis + 1, [...a, 0], [...b, 0]);
        if (dg.includes(axis + 1)) {
          for (let c = 0; c < S[axis]; c++) kept(i, j, axis + 1, [...a, c], [...b, c]);
          return;
        }
        for (let c1 = 0; c1 < S[axis]; c1++) for (let c2 = 0; c2 < S[axis]; c2++) kept(i, j, axis + 1, [...a, c1], [...b, c2]);
      };
      if (dg.includes(0)) for (let i = 0; i < n1; i++) kept(i, i, 0, [], []);
      else for (let i = 0; i < n1; i++) for (let j = 0; j < m2; j++) kept(i, j, 0, [], []);
      const got = empiricalNtkFn(apply, { traceAxes, diagonalAxes })(x1, x2, params);
      const tol = 1e-6 * Math.max(1, ...ref.map(Math.abs));
      expect(diff(got.dataSync(), ref)).toBeLessThan(tol);
      useNngp = true;
      ref.length = 0;
      if (dg.includes(0)) for (let i = 0; i < n1; i++) kept(i, i, 0, [], []);
      else for (let i = 0; i < n1; i++) for (let j = 0; j < m2; j++) kept(i, j, 0, [], []);
      expect(diff(empiricalNngpFn(apply, { traceAxes, diagonalAxes })(x1, x2, params).dataSync(), ref)).toBeLessThan(1e-12);
      if (traceAxes.length === 0 && diagonalAxes.length === 0) expect(got.shape).toEqual([n1, n2, 2, 2, 3, 3, 2, 2]);
    }), { numRuns: 12 });
  });

  it('names bad options and inputs', () => {
    const net = mlp(tg.key(0), [3, 4], 2);
    const x = net.input(tg.key(1), 3);
    expect(() => empiricalNtkFn(net.apply, { traceAxes: [0] })).toThrow(/traceAxes may not include the batch axis 0/);
    expect(() => empiricalNtkFn(net.apply, { traceAxes: [-1], diagonalAxes: [1] })(x, null, net.params)).toThrow(/both traced and diagonal/);
    expect(() => empiricalNtkFn(net.apply, { traceAxes: [1], diagonalAxes: [1] })).toThrow(/both traced and diagonal/);
    expect(() => empiricalNtkFn(net.apply, { traceAxes: [2] })(x, null, net.params)).toThrow(/traceAxes has axis 2, outside the outputs' rank 2/);
    expect(() => empiricalNtkFn(net.apply, { diagonalAxes: [0] })(x, net.input(tg.key(2), 2), net.params)).toThrow(/same batch size/);
    expect(() => empiricalKernelFn(net.apply)(x, null, 'nngq' as 'nngp', net.params)).toThrow(/get must be 'nngp', 'ntk'/);
    expect(() => batch(empiricalNtkFn(net.apply), 0)).toThrow(/blockSize must be a positive integer/);
  });
});
