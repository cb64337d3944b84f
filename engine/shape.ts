/** Shape arithmetic shared by the ops layer, the autodiff driver and the kernels. */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-order) strides. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/**
 * The most elements one tensor may hold: kernels address elements with 32-bit integer offsets
 * (the CPU kernels' Int32Array strides, WGSL's u32/i32 indices), so a larger tensor could not
 * be indexed. Checked before anything is allocated, so a huge shape fails at once instead of
 * paging gigabytes in.
 */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Throws naming the op when a shape is not a list of non-negative integers or is too large to index. */
export function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape)) throw new Error(`${op}: a shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${formatShape(shape)}: dimensions must be non-negative integers`);
  }
  checkSize(op, shape);
}

/** Throws naming the op when a tensor of `shape` would have more than MAX_ELEMENTS elements. */
export function checkSize(op: string, shape: Shape): void {
  const n = sizeOf(shape);
  if (n > MAX_ELEMENTS) {
    throw new Error(`${op}: shape ${formatShape(shape)} has ${n} elements, more than the ${MAX_ELEMENTS} a tensor can index (32-bit offsets)`);
  }
}

/** Throws naming the op when any of `values` (begin, end, strides, ...) is not an integer. */
export function checkIntegers(op: string, what: string, values: readonly number[]): void {
  if (!Array.isArray(values) || values.some((v) => !Number.isInteger(v))) {
    throw new Error(`${op}: ${what} must be integers, got ${Array.isArray(values) ? `[${values.join(',')}]` : describeValue(values)}`);
  }
}

/** A short description of an unexpected argument for error messages: "null", "string 'a'", "object". */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `string '${v.length > 20 ? `${v.slice(0, 20)}...` : v}'`;
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return Array.isArray(v) ? 'an array' : typeof v;
}

/** NumPy broadcasting; throws naming the op and both shapes when they do not broadcast. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for reading an array of `shape` as if it were broadcast to `target`:
 * broadcast axes get stride 0. Used by every backend so broadcasting never copies.
 */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const own = stridesOf(shape);
  const offset = target.length - shape.length;
  const out = new Array<number>(target.length).fill(0);
  for (let i = 0; i < shape.length; i++) out[i + offset] = shape[i] === 1 ? 0 : own[i];
  return out;
}

/** Normalizes possibly-negative axes; throws on out-of-range or repeated axes. */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, rank: number, shape?: Shape): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const seen = new Set<number>();
  const out: number[] = [];
  for (const a of list) {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new Error(`${op}: axis ${a} is out of range for shape ${formatShape(shape ?? new Array(rank).fill('?') as number[])} (rank ${rank})`);
    }
    const n = a < 0 ? a + rank : a;
    if (seen.has(n)) throw new Error(`${op}: axis ${a} repeated in [${list.join(',')}]`);
    seen.add(n);
    out.push(n);
  }
  return out.sort((x, y) => x - y);
}

/** The axes along which `shape` was broadcast to reach `target` (leading new axes and size-1 axes). */
export function broadcastAxes(shape: Shape, target: Shape): number[] {
  const offset = target.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < target.length; i++) {
    if (i < offset || (shape[i - offset] === 1 && target[i] !== 1)) axes.push(i);
  }
  return axes;
}

/**
 * Merges neighbouring axes that every operand walks as one (stride[d] = stride[d+1] * shape[d+1])
 * and drops size-1 axes, so kernels loop over the smallest rank: a slice of whole rows is a 1-D
 * copy, a bias broadcast over [N, H, W, C] is 2-D. Strides may be negative (reverse) or 0
 * (broadcast). Returns at least one axis. The CPU kernels (strided.ts, reduce.ts) and the WGSL
 * generators both collapse with this.
 * @example collapseAxes([4, 1, 3, 5], [[15, 15, 5, 1], [0, 0, 0, 1]]) // { shape: [12, 5], strides: [[5, 1], [0, 1]] }
 */
export function collapseAxes(shape: Shape, strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => st[k][last] === s[i] * shape[i])) {
      // Axis i continues the previous kept axis for every operand: fold it in.
      dims[last] *= shape[i];
      strides.forEach((s, k) => (st[k][last] = s[i]));
      continue;
    }
    dims.push(shape[i]);
    strides.forEach((s, k) => st[k].push(s[i]));
  }
  if (dims.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: dims, strides: st };
}
