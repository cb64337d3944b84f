/**
 * CPU reductions in one pass over the input in memory order: each input element is folded into
 * its output slot (output stride 0 on reduced axes), accumulated in doubles. No transposed copy
 * of the input is made, whichever axes are reduced: summing a [16, 2048] batch over axis 0 reads
 * it once, row by row.
 */
import type { ReduceParams } from '../../engine/primitives/reduce.ts';
import { type TypedArray } from '../../engine/dtype.ts';
import { collapseAxes, sizeOf, stridesOf, type Shape } from '../../engine/shape.ts';
import { wasmColumnSum } from '../wasm/elementwise.ts';
import { wasmMinWork, wasmRuntime } from './config.ts';
import type { CpuKernel } from './elementwise.ts';
import { allocateOutput } from './storage.ts';

/** Collapsed iteration over the input: its own strides (contiguous) and the output slot's. */
function plan(shape: Shape, axes: readonly number[]): { dims: Int32Array; si: Int32Array; so: Int32Array } {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptStrides = stridesOf(kept.map((i) => shape[i]));
  const outStrides = shape.map((_, i) => (axes.includes(i) ? 0 : keptStrides[kept.indexOf(i)]));
  const c = collapseAxes(shape, [stridesOf(shape), outStrides]);
  return { dims: Int32Array.from(c.shape), si: Int32Array.from(c.strides[0]), so: Int32Array.from(c.strides[1]) };
}

function sumInto(x: TypedArray, acc: Float64Array, dims: Int32Array, si: Int32Array, so: Int32Array): void {
  const r = dims.length, inner = dims[r - 1], ii = si[r - 1], io = so[r - 1], n = x.length;
  const idx = new Int32Array(r);
  let pi = 0, po = 0;
  for (let done = 0; done < n; done += inner) {
    if (io === 0) {
      let s = acc[po];
      for (let j = 0, q = pi; j < inner; j++, q += ii) s += x[q];
      acc[po] = s;
    } else {
      for (let j = 0, q = pi, o = po; j < inner; j++, q += ii, o += io) acc[o] += x[q];
    }
    for (let d = r - 2; d >= 0; d--) {
      pi += si[d]; po += so[d];
      if (++idx[d] < dims[d]) break;
      pi -= si[d] * dims[d]; po -= so[d] * dims[d]; idx[d] = 0;
    }
  }
}

/** NaN wins, as in NumPy: once a slot holds NaN no comparison replaces it. */
function maxInto(x: TypedArray, acc: Float64Array, dims: Int32Array, si: Int32Array, so: Int32Array): void {
  const r = dims.length, inner = dims[r - 1], ii = si[r - 1], io = so[r - 1], n = x.length;
  const idx = new Int32Array(r);
  let pi = 0, po = 0;
  for (let done = 0; done < n; done += inner) {
    if (io === 0) {
      let m = acc[po];
      for (let j = 0, q = pi; j < inner; j++, q += ii) {
        const v = x[q];
        if (v > m || v !== v) m = v;
      }
      acc[po] = m;
    } else {
      for (let j = 0, q = pi, o = po; j < inner; j++, q += ii, o += io) {
        const v = x[q];
        if (v > acc[o] || v !== v) acc[o] = v;
      }
    }
    for (let d = r - 2; d >= 0; d--) {
      pi += si[d]; po += so[d];
      if (++idx[d] < dims[d]) break;
      pi -= si[d] * dims[d]; po -= so[d] * dims[d]; idx[d] = 0;
    }
  }
}

type Fold = typeof sumInto;

/** A sum over the leading axis of a contiguous [rows, period] array (a bias gradient). */
function isColumnSum(dims: Int32Array, si: Int32Array, so: Int32Array): boolean {
  return dims.length === 2 && so[0] === 0 && so[1] === 1 && si[1] === 1 && si[0] === dims[1];
}

/** The column sum on the Wasm kernels (same order, same float64 sums); false when they cannot take it. */
function columnSumInWasm(x: TypedArray, dims: Int32Array, acc: Float64Array): boolean {
  const rt = wasmRuntime();
  return rt !== null && wasmColumnSum(rt, x, dims[0], dims[1], acc);
}

function reducer(init: number, fold: Fold): CpuKernel {
  return ([a], { axes }: ReduceParams, outShape, dtype) => {
    const acc = new Float64Array(sizeOf(outShape));
    if (init !== 0) acc.fill(init);
    if (a.storage.length > 0) {
      const { dims, si, so } = plan(a.shape, axes);
      if (!(fold === sumInto && isColumnSum(dims, si, so) && a.storage.length >= wasmMinWork() && columnSumInWasm(a.storage, dims, acc))) {
        fold(a.storage, acc, dims, si, so);
      }
    }
    const out = allocateOutput(dtype, acc.length);
    out.set(acc);
    return out;
  };
}

export const reduceKernels = {
  sum: reducer(0, sumInto),
  reduceMax: reducer(Number.NEGATIVE_INFINITY, maxInto),
} satisfies Record<string, CpuKernel>;
