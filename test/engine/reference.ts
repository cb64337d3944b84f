/**
 * Independent float64 references in plain loops (no ndarray, no engine code): the specification
 * the engine's primitives are tested against.
 */
export interface Arr {
  data: Float64Array;
  shape: number[];
}

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Multi-index of flat position i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const r = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => Math.max(...shapes.map((s) => s[i - (r - s.length)] ?? 1)));
}

/** Value of `a` at the multi-index `idx` of the broadcast output. */
export function at(a: Arr, idx: readonly number[]): number {
  const off = idx.length - a.shape.length;
  const st = strides(a.shape);
  let flat = 0;
  for (let d = 0; d < a.shape.length; d++) flat += (a.shape[d] === 1 ? 0 : idx[d + off]) * st[d];
  return a.data[flat];
}

export function mapN(fn: (...xs: number[]) => number, ...as: Arr[]): Arr {
  const shape = broadcastShape(...as.map((a) => a.shape));
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    data[i] = fn(...as.map((a) => at(a, idx)));
  }
  return { data, shape };
}

export function reduce(a: Arr, axes: number[], keepdims: boolean, fold: (acc: number, x: number) => number, init: number): Arr {
  const outShapeKeep = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float64Array(size(outShapeKeep)).fill(init);
  const st = strides(outShapeKeep);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    let o = 0;
    idx.forEach((v, d) => (o += (axes.includes(d) ? 0 : v) * st[d]));
    out[o] = fold(out[o], a.data[i]);
  }
  return { data: out, shape: keepdims ? outShapeKeep : a.shape.filter((_, i) => !axes.includes(i)) };
}

export function transpose(a: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => a.shape[p]);
  const data = new Float64Array(a.data.length);
  const st = strides(a.shape);
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    let src = 0;
    perm.forEach((p, d) => (src += idx[d] * st[p]));
    data[i] = a.data[src];
  }
  return { data, shape };
}

export function slice(a: Arr, begin: number[], end: number[], step: number[]): Arr {
  const shape = a.shape.map((_, i) => Math.ceil((end[i] - begin[i]) / step[i]));
  const data = new Float64Array(size(shape));
  const st = strides(a.shape);
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    let src = 0;
    idx.forEach((v, d) => (src += (begin[d] + v * step[d]) * st[d]));
    data[i] = a.data[src];
  }
  return { data, shape };
}

export function pad(a: Arr, lo: number[], hi: number[], interior: number[], value: number): Arr {
  const shape = a.shape.map((d, i) => lo[i] + hi[i] + d + (d - 1) * interior[i]);
  const data = new Float64Array(size(shape)).fill(value);
  const st = strides(shape);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    let dst = 0;
    idx.forEach((v, d) => (dst += (lo[d] + v * (interior[d] + 1)) * st[d]));
    data[dst] = a.data[i];
  }
  return { data, shape };
}

export function concat(as: Arr[], axis: number): Arr {
  const shape = [...as[0].shape];
  shape[axis] = as.reduce((s, a) => s + a.shape[axis], 0);
  const data = new Float64Array(size(shape));
  const st = strides(shape);
  let offset = 0;
  for (const a of as) {
    for (let i = 0; i < a.data.length; i++) {
      const idx = unravel(i, a.shape);
      idx[axis] += offset;
      data[idx.reduce((s, v, d) => s + v * st[d], 0)] = a.data[i];
    }
    offset += a.shape[axis];
  }
  return { data, shape };
}

export function reverse(a: Arr, axes: number[]): Arr {
  const data = new Float64Array(a.data.length);
  const st = strides(a.shape);
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, a.shape);
    data[i] = a.data[idx.reduce((s, v, d) => s + (axes.includes(d) ? a.shape[d] - 1 - v : v) * st[d], 0)];
  }
  return { data, shape: [...a.shape] };
}

/** Batched matmul with broadcast batch axes and transpose flags. */
export function matmul(a: Arr, b: Arr, tA: boolean, tB: boolean): Arr {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    const bi = idx.slice(0, -2);
    const [r, c] = idx.slice(-2);
    let acc = 0;
    for (let q = 0; q < k; q++) {
      acc += at(a, [...bi, ...(tA ? [q, r] : [r, q])]) * at(b, [...bi, ...(tB ? [c, q] : [q, c])]);
    }
    data[i] = acc;
  }
  return { data, shape };
}

export interface RefConvParams {
  strides: [number, number];
  padding: [[number, number], [number, number]];
  kernelDilation: [number, number];
  inputDilation: [number, number];
  flip: boolean;
}

/** Direct-loop convolution from the definition in engine/conv-params.ts. */
export function conv2d(x: Arr, w: Arr, p: RefConvParams): Arr {
  const [n, h, wd, c] = x.shape;
  const [kh, kw, , o] = w.shape;
  const hd = (h - 1) * p.inputDilation[0] + 1;
  const wdd = (wd - 1) * p.inputDilation[1] + 1;
  const oh = Math.floor((hd + p.padding[0][0] + p.padding[0][1] - ((kh - 1) * p.kernelDilation[0] + 1)) / p.strides[0]) + 1;
  const ow = Math.floor((wdd + p.padding[1][0] + p.padding[1][1] - ((kw - 1) * p.kernelDilation[1] + 1)) / p.strides[1]) + 1;
  const shape = [n, oh, ow, o];
  const data = new Float64Array(size(shape));
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) for (let q = 0; q < o; q++) {
    let acc = 0;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const r = y * p.strides[0] + i * p.kernelDilation[0] - p.padding[0][0];
      const s = z * p.strides[1] + j * p.kernelDilation[1] - p.padding[1][0];
      if (r < 0 || s < 0 || r >= hd || s >= wdd || r % p.inputDilation[0] || s % p.inputDilation[1]) continue;
      const xr = r / p.inputDilation[0];
      const xs = s / p.inputDilation[1];
      const ki = p.flip ? kh - 1 - i : i;
      const kj = p.flip ? kw - 1 - j : j;
      for (let ch = 0; ch < c; ch++) {
        acc += x.data[((b * h + xr) * wd + xs) * c + ch] * w.data[((ki * kw + kj) * c + ch) * o + q];
      }
    }
    data[((b * oh + y) * ow + z) * o + q] = acc;
  }
  return { data, shape };
}

/** NumPy's take: x's axis `axis` replaced by the index array (flat `idx` of shape `idxShape`). */
export function take(x: Arr, idx: readonly number[], idxShape: readonly number[], axis: number): Arr {
  const shape = [...x.shape.slice(0, axis), ...idxShape, ...x.shape.slice(axis + 1)];
  const data = new Float64Array(size(shape));
  const r = idxShape.length;
  for (let i = 0; i < data.length; i++) {
    const c = unravel(i, shape);
    const j = r === 0 ? 0 : c.slice(axis, axis + r).reduce((acc, v, d) => acc * idxShape[d] + v, 0);
    const src = [...c.slice(0, axis), idx[j], ...c.slice(axis + r)];
    data[i] = x.data[src.reduce((acc, v, d) => acc * x.shape[d] + v, 0)];
  }
  return { data, shape };
}

/** The transpose of take: out[..., k, ...] = sum of u[..., j..., ...] over idx[j...] = k. */
export function scatterAdd(u: Arr, idx: readonly number[], idxShape: readonly number[], axis: number, length: number): Arr {
  const r = idxShape.length;
  const shape = [...u.shape.slice(0, axis), length, ...u.shape.slice(axis + r)];
  const data = new Float64Array(size(shape));
  for (let i = 0; i < u.data.length; i++) {
    const c = unravel(i, u.shape);
    const j = r === 0 ? 0 : c.slice(axis, axis + r).reduce((acc, v, d) => acc * idxShape[d] + v, 0);
    const dst = [...c.slice(0, axis), idx[j], ...c.slice(axis + r)];
    data[dst.reduce((acc, v, d) => acc * shape[d] + v, 0)] += u.data[i];
  }
  return { data, shape };
}

/** NumPy's argmax along `axis`: the first maximal index, or the first NaN. */
export function argmax(a: Arr, axis: number): { data: number[]; shape: number[] } {
  const shape = a.shape.filter((_, i) => i !== axis);
  const n = a.shape[axis];
  const inner = size(a.shape.slice(axis + 1));
  const outer = size(a.shape.slice(0, axis));
  const data: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let q = 0; q < inner; q++) {
      let best = 0;
      for (let i = 0; i < n; i++) {
        const v = a.data[(o * n + i) * inner + q];
        const b = a.data[(o * n + best) * inner + q];
        if (Number.isNaN(b)) break;
        if (Number.isNaN(v) || v > b) best = i;
      }
      data.push(best);
    }
  }
  return { data, shape };
}
