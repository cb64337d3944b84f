/**
 * Every primitive, three laws (test/engine/law-table.ts), random shapes (broadcasting, size-1 axes)
 * and random params: forward equals the float64 reference; the JVP equals a central finite
 * difference in float64; and the JVP and VJP are transposes of each other: <u, J v> = <J^T u, v>.
 * Then second derivatives, casts and ties.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { fill, OPS } from './cases.ts';
import { H, primitiveLaws, tangentInputs } from './law-table.ts';
import { expectClose, toArr, toTensor } from './util.ts';

primitiveLaws(OPS);

describe('second derivatives', () => {
  const names = ['exp', 'tanh', 'erf', 'log', 'mul', 'div', 'pow', 'max', 'matmul', 'conv2d', 'sum', 'where', 'gather', 'scatterAdd'];
  it.each(names)('Hessian-vector product of %s equals finite differences of the gradient', (name) => {
    const spec = OPS.find((s) => s.name === name)!;
    fc.assert(fc.property(spec.gen, fc.nat(), ({ inputs, params }, seed) => tg.tidy(() => {
      const diff = tangentInputs(spec, inputs.length);
      const u = fill(spec.ref(inputs, params).shape, seed + 7, 'any');
      // Empty inputs or outputs (zero-length index lists) have nothing to differentiate twice.
      fc.pre(u.data.length > 0 && inputs.every((a) => a.data.length > 0));
      // g(xs) = <u, sin(f(xs))>: the sin makes the Hessian nonzero even for (bi)linear f.
      const g = (...args: Tensor[]) => tg.sum(tg.mul(toTensor(u), tg.sin(spec.run(args, params))));
      const gradG = (...args: Tensor[]) => tg.grad(g, { argnums: diff })(...args) as Tensor[];
      const xs = inputs.map((a) => toTensor(a));
      const vs = inputs.map((a, i) => (diff.includes(i) ? toTensor(fill(a.shape, seed + 13 + i, 'any')) : null));
      const [, hv] = tg.jvp(gradG, xs, vs);
      const shifted = (sgn: number) => gradG(...xs.map((x, i) => (vs[i] === null ? x : tg.add(x, tg.mul(vs[i]!, sgn * H)))));
      const plus = shifted(1);
      const minus = shifted(-1);
      (hv as Tensor[]).forEach((h, j) => {
        const fd = plus[j].dataSync().map((p, i) => (p - minus[j].dataSync()[i]) / (2 * H));
        expectClose(h.dataSync(), fd, 1e-5, 1e-5, `${name} hvp`);
      });
      // Reverse-over-reverse agrees with forward-over-reverse: grad of <grad g, v>.
      const rr = tg.grad((...args: Tensor[]) => {
        const gs = gradG(...args);
        return gs.reduce((acc: Tensor, gi, j) => tg.add(acc, tg.sum(tg.mul(gi, vs[diff[j]]!))), tg.scalar(0, 'float64'));
      }, { argnums: diff })(...xs) as Tensor[];
      rr.forEach((r, j) => expectClose(r.dataSync(), (hv as Tensor[])[j].dataSync(), 1e-9, 1e-9, `${name} reverse-over-reverse`));
    })), { numRuns: 10 });
  });
});

describe('cast', () => {
  it('round-trips float64 -> float32 -> float64 to float32 precision and differentiates', () => {
    fc.assert(fc.property(fc.nat(), (seed) => tg.tidy(() => {
      const a = fill([3, 4], seed, 'any');
      const x = toTensor(a);
      const y = tg.cast(tg.cast(x, 'float32'), 'float64');
      expect(y.dtype).toBe('float64');
      expectClose(y.dataSync(), Float32Array.from(a.data), 0, 0, 'cast');
      const g = tg.grad((t: Tensor) => tg.sum(tg.mul(tg.cast(t, 'float32'), 3)))(x) as Tensor;
      expect(g.dtype).toBe('float64');
      expectClose(g.dataSync(), new Float64Array(12).fill(3), 0, 0, 'cast grad');
    })), { numRuns: 5 });
  });
});

describe('ties', () => {
  it('maximum splits the derivative evenly at ties, and reduce max shares it between equal maxima', () => {
    tg.tidy(() => {
      const a = tg.tensor([1, 2, 3], undefined, 'float64');
      const b = tg.tensor([1, 5, 0], undefined, 'float64');
      const [ga, gb] = tg.grad((x: Tensor, y: Tensor) => tg.sum(tg.maximum(x, y)), { argnums: [0, 1] })(a, b) as Tensor[];
      expect(Array.from(ga.dataSync())).toEqual([0.5, 0, 1]);
      expect(Array.from(gb.dataSync())).toEqual([0.5, 1, 0]);
      const g = tg.grad((x: Tensor) => tg.max(x))(tg.tensor([2, 7, 7, 1], undefined, 'float64')) as Tensor;
      expect(Array.from(g.dataSync())).toEqual([0, 0.5, 0.5, 0]);
      expect(Array.from(toArr(tg.equal(a, b)).data)).toEqual([1, 0, 0]);
    });
  });
});
