/**
 * The law table of the primitives, as a function so it can run under several backend
 * configurations (test/engine/primitives.test.ts: the default; test/kernels/wasm: the Wasm
 * kernels single- and multi-threaded). Three laws, random shapes (broadcasting, size-1 axes) and
 * random params: forward equals the float64 reference; the JVP equals a central finite difference
 * in float64; and the JVP and VJP are transposes of each other: <u, J v> = <J^T u, v>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { fill, type OpSpec } from './cases.ts';
import { dot, expectClose, toTensor } from './util.ts';

/** Finite-difference step (float64). */
export const H = 1e-6;

export function tangentInputs(spec: OpSpec, n: number): number[] {
  return spec.diff ?? Array.from({ length: n }, (_, i) => i);
}

/** Runs the three laws for each spec, `runs` fast-check cases each. */
export function primitiveLaws(specs: readonly OpSpec[], runs = 25): void {
  describe.each(specs.map((s) => [s.name, s] as const))('primitive %s', (_name, spec) => {
    it('forward matches the float64 reference (float32 and float64)', () => {
      fc.assert(fc.property(spec.gen, ({ inputs, params }) => tg.tidy(() => {
        const expected = spec.ref(inputs, params);
        const out64 = spec.run(inputs.map((a) => toTensor(a, 'float64')), params);
        expect([...out64.shape]).toEqual(expected.shape);
        expectClose(out64.dataSync(), expected.data, 1e-12, 1e-12, `${spec.name} float64`);
        const out32 = spec.run(inputs.map((a) => toTensor(a, 'float32')), params);
        expect(out32.dtype).toBe('float32');
        expectClose(out32.dataSync(), expected.data, 2e-5, 2e-5, `${spec.name} float32`);
      })), { numRuns: runs });
    });

    it('JVP equals the central finite difference (float64)', () => {
      fc.assert(fc.property(spec.gen, fc.nat(), ({ inputs, params }, seed) => tg.tidy(() => {
        const diff = tangentInputs(spec, inputs.length);
        const xs = inputs.map((a) => toTensor(a));
        const vs = inputs.map((a, i) => (diff.includes(i) ? toTensor(fill(a.shape, seed + i, 'any')) : null));
        const [out, tangent] = tg.jvp((...args: Tensor[]) => spec.run(args, params), xs, vs);
        expect([...tangent.shape]).toEqual([...out.shape]);
        const shifted = (sgn: number) => spec.run(inputs.map((a, i) => {
          const v = vs[i];
          return v === null ? toTensor(a) : tg.add(toTensor(a), tg.mul(v, sgn * H));
        }), params).dataSync();
        const plus = shifted(1);
        const minus = shifted(-1);
        const fd = plus.map((p, i) => (spec.smooth === false ? 0 : (p - minus[i]) / (2 * H)));
        if (spec.smooth === false) return;
        expectClose(tangent.dataSync(), fd, 1e-6, 1e-6, `${spec.name} jvp vs fd`);
      })), { numRuns: runs });
    });

    it('transpose law <u, J v> = <J^T u, v> (float64)', () => {
      fc.assert(fc.property(spec.gen, fc.nat(), ({ inputs, params }, seed) => tg.tidy(() => {
        const diff = tangentInputs(spec, inputs.length);
        const xs = inputs.map((a) => toTensor(a));
        const vs = inputs.map((a, i) => (diff.includes(i) ? toTensor(fill(a.shape, seed + i, 'any')) : null));
        const [out, jv] = tg.jvp((...args: Tensor[]) => spec.run(args, params), xs, vs);
        const u = toTensor(fill([...out.shape], seed + 99, 'any'));
        const [, back] = tg.vjp((...args: Tensor[]) => spec.run(args, params), ...xs);
        const cts = back(u) as Tensor[];
        const lhs = dot(u.dataSync(), jv.dataSync());
        let rhs = 0;
        cts.forEach((ct, i) => {
          expect([...ct.shape]).toEqual([...xs[i].shape]);
          const v = vs[i];
          if (v !== null) rhs += dot(ct.dataSync(), v.dataSync());
        });
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
      })), { numRuns: runs });
    });
  });
}
