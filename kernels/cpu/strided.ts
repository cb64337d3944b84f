/**
 * Strided iteration shared by the elementwise and reduction kernels: an n-d loop over an output
 * shape in row-major order where each operand has its own strides (0 on broadcast axes), after
 * merging the axes that can be walked as one. Replaces ndarray-ops for broadcasting binaries:
 * its generic path re-derives the iteration order per call and ran 2x slower than the flat
 * loops on [16,2048] + [2048]-style broadcasts.
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { broadcastStrides, collapseAxes, stridesOf, type Shape } from '../../engine/shape.ts';

/**
 * out = expr(x, y) over a collapsed broadcast shape, out contiguous; sx, sy are the operands'
 * strides (0 on broadcast axes). The innermost axis runs as a flat loop specialized for the
 * usual stride patterns (both contiguous, one operand constant along it).
 */
export type StridedBinaryLoop = (xs: TypedArray, ys: TypedArray, out: TypedArray, shape: Int32Array, sx: Int32Array, sy: Int32Array) => void;

/**
 * The body of the strided loop of a binary op whose value is the JavaScript expression `expr` in
 * `x` and `y` (parameters xs, ys, out, shape, sx, sy). {@link stridedBinaryLoop} is the same loop
 * with the op as a closure, for hosts that refuse generated code; keep the two in step.
 */
export function stridedBinarySource(expr: string): string {
  return `
    const r = shape.length, inner = shape[r - 1], ix = sx[r - 1], iy = sy[r - 1], n = out.length;
    const idx = new Int32Array(r);
    let px = 0, py = 0;
    for (let o = 0; o < n; o += inner) {
      if (ix === 1 && iy === 1) {
        for (let j = 0; j < inner; j++) { const x = xs[px + j], y = ys[py + j]; out[o + j] = ${expr}; }
      } else if (iy === 0) {
        const y = ys[py];
        for (let j = 0, q = px; j < inner; j++, q += ix) { const x = xs[q]; out[o + j] = ${expr}; }
      } else if (ix === 0) {
        const x = xs[px];
        for (let j = 0, q = py; j < inner; j++, q += iy) { const y = ys[q]; out[o + j] = ${expr}; }
      } else {
        for (let j = 0, qx = px, qy = py; j < inner; j++, qx += ix, qy += iy) { const x = xs[qx], y = ys[qy]; out[o + j] = ${expr}; }
      }
      // Advance the outer axes like an odometer.
      for (let d = r - 2; d >= 0; d--) {
        px += sx[d]; py += sy[d];
        if (++idx[d] < shape[d]) break;
        px -= sx[d] * shape[d]; py -= sy[d] * shape[d]; idx[d] = 0;
      }
    }`;
}

/** The strided loop of {@link stridedBinarySource} calling `op` per element (no generated code). */
export function stridedBinaryLoop(op: (x: number, y: number) => number): StridedBinaryLoop {
  return (xs, ys, out, shape, sx, sy) => {
    const r = shape.length, inner = shape[r - 1], ix = sx[r - 1], iy = sy[r - 1], n = out.length;
    const idx = new Int32Array(r);
    let px = 0, py = 0;
    for (let o = 0; o < n; o += inner) {
      if (ix === 1 && iy === 1) {
        for (let j = 0; j < inner; j++) out[o + j] = op(xs[px + j], ys[py + j]);
      } else if (iy === 0) {
        const y = ys[py];
        for (let j = 0, q = px; j < inner; j++, q += ix) out[o + j] = op(xs[q], y);
      } else if (ix === 0) {
        const x = xs[px];
        for (let j = 0, q = py; j < inner; j++, q += iy) out[o + j] = op(x, ys[q]);
      } else {
        for (let j = 0, qx = px, qy = py; j < inner; j++, qx += ix, qy += iy) out[o + j] = op(xs[qx], ys[qy]);
      }
      for (let d = r - 2; d >= 0; d--) {
        px += sx[d]; py += sy[d];
        if (++idx[d] < shape[d]) break;
        px -= sx[d] * shape[d]; py -= sy[d] * shape[d]; idx[d] = 0;
      }
    }
  };
}

/**
 * Broadcasting binary op through a strided loop: a [out] contiguous result of
 * expr(x, y) with x of shape `xShape` and y of `yShape` read with stride-0 broadcast axes.
 */
export function broadcastBinary(loop: StridedBinaryLoop, xs: TypedArray, xShape: Shape, ys: TypedArray, yShape: Shape, outShape: Shape, out: TypedArray): void {
  if (out.length === 0) return;
  const c = collapseAxes(outShape, [broadcastStrides(xShape, outShape), broadcastStrides(yShape, outShape), stridesOf(outShape)]);
  loop(xs, ys, out, Int32Array.from(c.shape), Int32Array.from(c.strides[0]), Int32Array.from(c.strides[1]));
}

/**
 * Copies the strided view (src, offset, shape, strides) into the contiguous `out` (row-major).
 * Axes are collapsed first; contiguous inner runs are block copies (TypedArray.set), so slices,
 * concatenations and stacks of big tensors move memory at memcpy speed instead of element by
 * element through ndarray-ops (a [16, 927745] per-sample Jacobian stack: ~10x).
 */
export function gather(src: TypedArray, offset: number, shape: Shape, strides: readonly number[], out: TypedArray): void {
  const n = out.length;
  if (n === 0) return;
  const c = collapseAxes(shape, [strides, stridesOf(shape)]);
  const dims = c.shape, st = c.strides[0];
  const r = dims.length, inner = dims[r - 1], is = st[r - 1];
  const idx = new Int32Array(r);
  let p = offset;
  for (let o = 0; o < n; o += inner) {
    if (is === 1 && inner >= 16) out.set(src.subarray(p, p + inner), o);
    else for (let j = 0, q = p; j < inner; j++, q += is) out[o + j] = src[q];
    for (let d = r - 2; d >= 0; d--) {
      p += st[d];
      if (++idx[d] < dims[d]) break;
      p -= st[d] * dims[d];
      idx[d] = 0;
    }
  }
}

/**
 * The inverse of {@link gather}: writes the contiguous `src` (row-major, of `shape`) into the
 * strided view (dst, offset, shape, strides), e.g. an interior-padded region of a padded output.
 * Contiguous inner runs are block copies.
 */
export function scatter(src: TypedArray, dst: TypedArray, offset: number, shape: Shape, strides: readonly number[]): void {
  const n = src.length;
  if (n === 0) return;
  const c = collapseAxes(shape, [strides, stridesOf(shape)]);
  const dims = c.shape, st = c.strides[0];
  const r = dims.length, inner = dims[r - 1], is = st[r - 1];
  const idx = new Int32Array(r);
  let p = offset;
  for (let o = 0; o < n; o += inner) {
    if (is === 1 && inner >= 16) dst.set(src.subarray(o, o + inner), p);
    else for (let j = 0, q = p; j < inner; j++, q += is) dst[q] = src[o + j];
    for (let d = r - 2; d >= 0; d--) {
      p += st[d];
      if (++idx[d] < dims[d]) break;
      p -= st[d] * dims[d];
      idx[d] = 0;
    }
  }
}
