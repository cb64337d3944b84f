/**
 * Our strided views against the ndarray / ndarray-ops packages as an independent reference.
 * The library cannot ship them (both compile code with `new Function`, which a strict
 * Content-Security-Policy refuses, and ndarray-ops does so at import), so they check it here:
 * any transposed, sliced, stepped or reversed view is copied (strided.ts `gather`) and added
 * (the broadcasting binary kernel) exactly as ndarray-ops assigns and adds it.
 */
import fc from 'fast-check';
import ndarray from 'ndarray';
import ops from 'ndarray-ops';
import { describe, expect, it } from 'vitest';
import { sizeOf } from '../../../engine/shape.ts';
import { binaryKernels } from '../../../kernels/cpu/elementwise.ts';
import { gather } from '../../../kernels/cpu/strided.ts';

/** A random view: shape, a permutation of its axes, a start, step (possibly negative) and length per axis. */
const views = fc
  .array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 })
  .chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }),
      fc.tuple(...shape.map((d) => fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.constantFrom(1, 2, -1, -2)))),
    ),
  );

function source(shape: readonly number[]): Float64Array {
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 1.3) * 10;
  return data;
}

/** The ndarray view and its (shape, strides, offset) description. */
function makeView(shape: readonly number[], perm: readonly number[], cuts: readonly (readonly [number, number])[]) {
  let a = ndarray(source(shape), [...shape]);
  a = a.transpose(...perm);
  // Start at cuts[k][0] and step by cuts[k][1] along each (permuted) axis.
  a = a.lo(...perm.map((p) => cuts[p][0]));
  a = a.step(...perm.map((p) => cuts[p][1]));
  return a;
}

describe('strided views against ndarray-ops', () => {
  it('gather copies any transposed, sliced, stepped or reversed view as ndarray-ops assign does', () => {
    fc.assert(
      fc.property(views, ([shape, perm, cuts]) => {
        const a = makeView(shape, perm, cuts);
        const want = ndarray(new Float64Array(a.size), a.shape.slice());
        ops.assign(want, a);
        const got = new Float64Array(a.size);
        gather(a.data as Float64Array, a.offset, a.shape, a.stride, got);
        expect(Array.from(got)).toEqual(Array.from(want.data as Float64Array));
      }),
    );
  });

  it('the broadcasting add of materialized views equals ndarray-ops add', () => {
    fc.assert(
      fc.property(views, ([shape, perm, cuts]) => {
        const a = makeView(shape, perm, cuts);
        const x = new Float64Array(a.size);
        gather(a.data as Float64Array, a.offset, a.shape, a.stride, x);
        // The second operand broadcasts along the first axis.
        const yShape = [1, ...a.shape.slice(1)];
        const y = new Float64Array(sizeOf(yShape)).map((_, i) => i * 0.5 - 1);
        const got = binaryKernels.add([{ storage: x, shape: a.shape, dtype: 'float64' }, { storage: y, shape: yShape, dtype: 'float64' }], undefined, a.shape, 'float64');
        const want = ndarray(new Float64Array(a.size), a.shape.slice());
        const yb = ndarray(y, a.shape.slice(), [0, ...ndarray(y, yShape).stride.slice(1)]);
        ops.add(want, ndarray(x, a.shape.slice()), yb);
        expect(Array.from(got)).toEqual(Array.from(want.data as Float64Array));
      }),
    );
  });
});
