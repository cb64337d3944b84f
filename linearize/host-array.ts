/**
 * N-dimensional float64 host arrays for the neural-tangents-style predictors (predict.ts,
 * predict-ode.ts): reading their arguments (a Tensor, a Matrix, a { shape, data } array or a
 * typed-array column), permuting axes, and the `trace_axes` bookkeeping that maps targets and
 * kernels of any rank to the 2-D matrices the linear algebra works on.
 *
 * Kernel layout (neural-tangents' `zip(y1.shape, y2.shape)`): for targets of shape
 * [N, A, B, ...] with `traceAxes` removed, the kernel has every remaining axis twice, pairwise:
 * [N1, N2, A1, A2, ...]. Its matrix form has rows (n1, a1, ...) and columns (n2, a2, ...), the
 * sample-major flattening the rest of linearize/ uses (the full empirical NTK [N1 K, N2 K]).
 * A kernel may be passed in either form.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Matrix } from '../linalg/dense.ts';

/** A row-major float64 array of any rank. */
export interface HostArray {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

/** Anything an array argument accepts: a Tensor (read synchronously), a HostArray, a Matrix or a typed-array column. */
export type ArrayInput = Tensor | HostArray | Matrix | Float64Array | Float32Array;

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Reads any backend's tensor into a HostArray (awaits the read: use it for WebGPU tensors before
 * handing them to a predictor).
 * @example const k = await hostArray(kernelFn(xTrain, null, 'ntk'));
 */
export async function hostArray(t: Tensor): Promise<HostArray> {
  if (!(t instanceof tg.Tensor)) throw new Error(`hostArray: expected a Tensor, got ${typeof t}`);
  return { shape: [...t.shape], data: Float64Array.from(await t.data()) };
}

/** Converts one array argument; errors name `fn` and `name`. A CPU tensor is copied. */
export function readArray(fn: string, name: string, value: ArrayInput): HostArray {
  if (value instanceof tg.Tensor) {
    let data;
    try {
      data = value.dataSync();
    } catch (e) {
      throw new Error(`${fn}: ${name} is a tensor on the ${value.backend.name} backend, which reads asynchronously; pass await hostArray(${name}) instead`, { cause: e });
    }
    return { shape: [...value.shape], data: Float64Array.from(data) };
  }
  if (value instanceof Float64Array) return { shape: [value.length], data: value };
  if (value instanceof Float32Array) return { shape: [value.length], data: Float64Array.from(value) };
  const v = value as Partial<HostArray & Matrix> | null | undefined;
  if (v !== null && typeof v === 'object' && Array.isArray(v.shape) && v.data !== undefined && typeof v.data.length === 'number') {
    if (v.data.length !== sizeOf(v.shape)) throw new Error(`${fn}: ${name} has shape [${v.shape.join(',')}] but ${v.data.length} values`);
    return { shape: [...v.shape], data: v.data instanceof Float64Array ? v.data : Float64Array.from(v.data as ArrayLike<number>) };
  }
  if (v !== null && typeof v === 'object' && v.data instanceof Float64Array && Number.isInteger(v.rows) && Number.isInteger(v.cols)) {
    if (v.data.length !== v.rows! * v.cols!) throw new Error(`${fn}: ${name} is a ${v.rows}x${v.cols} matrix with ${v.data.length} entries`);
    return { shape: [v.rows!, v.cols!], data: v.data };
  }
  throw new Error(`${fn}: ${name} must be a Tensor, a { shape, data } array, a Matrix or a Float64Array, got ${value === null ? 'null' : typeof value}`);
}

/** Throws unless every entry is finite. */
export function assertFiniteArray(fn: string, name: string, a: HostArray): void {
  for (let i = 0; i < a.data.length; i++) {
    if (!Number.isFinite(a.data[i])) throw new Error(`${fn}: ${name} [${a.shape.join(',')}] has a non-finite value at flat index ${i}`);
  }
}

/** The array with its axes reordered: out axis i is input axis perm[i]. */
export function permute(a: HostArray, perm: readonly number[]): HostArray {
  const rank = a.shape.length;
  if (perm.every((p, i) => p === i)) return a;
  const shape = perm.map((p) => a.shape[p]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= a.shape[i];
  }
  const strides = perm.map((p) => inStrides[p]);
  const out = new Float64Array(a.data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = a.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      src += strides[d];
      if (idx[d] < shape[d]) break;
      src -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return { shape, data: out };
}

/** Normalizes axes (negative allowed) against a rank; errors on duplicates and out-of-range axes. */
export function canonicalAxes(fn: string, name: string, axes: readonly number[], rank: number): number[] {
  if (!Array.isArray(axes)) throw new Error(`${fn}: ${name} must be an array of axes, got ${String(axes)}`);
  const out = axes.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new Error(`${fn}: ${name} [${axes.join(',')}] has axis ${a}, outside rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw new Error(`${fn}: ${name} [${axes.join(',')}] repeats an axis`);
  return out.sort((x, y) => x - y);
}

/**
 * The target layout of one predictor: which target axes are traced (the kernel is Theta ⊗ I
 * along them) and how targets, outputs and kernels map to and from matrices.
 */
export class TraceLayout {
  readonly traced: number[];
  readonly kept: number[];
  /** Product of the traced axes: the columns of every output matrix. */
  readonly cols: number;

  constructor(readonly fn: string, readonly yShape: readonly number[], traceAxes: readonly number[]) {
    if (yShape.length < 1) throw new Error(`${fn}: yTrain must have a batch axis, got shape [${yShape.join(',')}]`);
    this.traced = canonicalAxes(fn, 'traceAxes', traceAxes, yShape.length);
    if (this.traced.includes(0)) throw new Error(`${fn}: traceAxes [${traceAxes.join(',')}] may not include the batch axis 0`);
    this.kept = yShape.map((_, i) => i).filter((i) => !this.traced.includes(i));
    this.cols = sizeOf(this.traced.map((a) => yShape[a]));
  }

  /** An output-shaped array (batch size n) as a matrix [rows (kept axes), cols (traced axes)]. */
  toMatrix(name: string, a: HostArray, n: number): Matrix {
    const expected = this.outputShape(n);
    if (a.shape.length !== expected.length || a.shape.some((d, i) => d !== expected[i])) {
      throw new Error(`${this.fn}: ${name} must have shape [${expected.join(',')}], got [${a.shape.join(',')}]`);
    }
    const p = permute(a, [...this.kept, ...this.traced]);
    return { rows: p.data.length / Math.max(1, this.cols) || 0, cols: this.cols, data: p.data };
  }

  /** Output shape for a batch of n samples. */
  outputShape(n: number): number[] {
    return this.yShape.map((d, i) => (i === 0 ? n : d));
  }

  /** Inverse of {@link toMatrix}: a matrix [rows, cols] back to an output array of batch size n, with optional leading axes. */
  fromMatrix(m: Float64Array, n: number, lead: readonly number[] = []): HostArray {
    const keptShape = this.kept.map((a) => (a === 0 ? n : this.yShape[a]));
    const tracedShape = this.traced.map((a) => this.yShape[a]);
    const shape = [...lead, ...keptShape, ...tracedShape];
    // Axis positions in that array of each original output axis.
    const order = [...this.kept, ...this.traced];
    const perm = [...lead.map((_, i) => i), ...this.yShape.map((_, axis) => lead.length + order.indexOf(axis))];
    return permute({ shape, data: m }, perm);
  }

  /** Per-sample shape of the kept axes other than the batch axis. */
  keptInner(): number[] {
    return this.kept.slice(1).map((a) => this.yShape[a]);
  }

  /**
   * A kernel between a batch (n1 samples, or inferred) and the train batch (n2 samples), given
   * zipped [N1, N2, A1, A2, ...] or as a matrix [N1 A ..., N2 A ...]; returns the matrix and N1.
   */
  kernelMatrix(name: string, k: HostArray, n2: number): { matrix: Matrix; n1: number } {
    const inner = this.keptInner();
    const per = sizeOf(inner);
    const zipped = [n2, ...inner];
    const cols = n2 * per;
    if (k.shape.length === 2 * zipped.length && zipped.length > 1) {
      const n1 = k.shape[0];
      const ok = zipped.every((d, i) => k.shape[2 * i + 1] === d && (i === 0 || k.shape[2 * i] === d));
      if (!ok) throw new Error(`${this.fn}: ${name} [${k.shape.join(',')}] does not pair with the targets: expected [N, ${zipped.map((d) => d).join(', ').replace(/^/, '')}] zipped as [N, ${n2}${inner.map((d) => `, ${d}, ${d}`).join('')}]`);
      const even = zipped.map((_, i) => 2 * i);
      const odd = zipped.map((_, i) => 2 * i + 1);
      const p = permute(k, [...even, ...odd]);
      return { matrix: { rows: n1 * per, cols, data: p.data }, n1 };
    }
    if (k.shape.length === 2 && k.shape[1] === cols && k.shape[0] % per === 0) {
      return { matrix: { rows: k.shape[0], cols, data: k.data }, n1: k.shape[0] / per };
    }
    const traced = this.traced.length > 0 ? ` (traceAxes [${this.traced.join(',')}] are absent from the kernel)` : '';
    throw new Error(
      `${this.fn}: ${name} has shape [${k.shape.join(',')}]; for targets [${this.yShape.join(',')}] it must be [N, ${n2}${inner.map((d) => `, ${d}, ${d}`).join('')}] or a matrix [N${per > 1 ? `*${per}` : ''}, ${cols}]${traced}`,
    );
  }

  /** A covariance matrix [n per, n per] back to the zipped kernel shape [n, n, A, A, ...]. */
  covarianceFromMatrix(m: Float64Array, n: number, lead: readonly number[] = []): HostArray {
    const inner = this.keptInner();
    const axes = [n, ...inner];
    const shape = [...lead, ...axes, ...axes];
    const r = axes.length;
    const perm = [...lead.map((_, i) => i)];
    for (let i = 0; i < r; i++) perm.push(lead.length + i, lead.length + r + i);
    return permute({ shape, data: m }, perm);
  }
}

/** A HostArray as a float64 CPU tensor (the predictors' outputs). */
export function toTensor(a: HostArray): Tensor {
  const cpu = tg.backendInstance('cpu');
  if (!cpu) throw new Error('predict: the CPU backend is not registered');
  return tg.tensor(a.data, a.shape, 'float64', cpu);
}
