/**
 * The one conversion of user-facing matrix arguments (kernels, outputs, targets) into float64
 * {@link Matrix}es, used at the boundary of mseFlow and of every predictor, so each accepts what
 * the rest of the library produces: a Tensor (`empiricalNtk`, `net.apply`), a Matrix, or a
 * Float64Array / Float32Array read as a column. Errors name the function, the argument and what
 * was given, never a shape like "undefinedx1".
 */
import { Tensor } from '../engine/tensor.ts';
import type { Matrix } from '../linalg/dense.ts';

/** Anything a matrix argument accepts: a Matrix, a Tensor of rank 1 (a column) or 2, or a typed-array column. */
export type MatrixInput = Matrix | Tensor | Float64Array | Float32Array;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length} (wrap it: new Float64Array(values))`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return `an object with keys {${Object.keys(value as object).slice(0, 6).join(', ')}}`;
  return `${typeof value} ${String(value)}`;
}

/** Always a copy: a CPU tensor's read may be its live storage. */
function tensorMatrix(t: Tensor, data: ArrayLike<number>): Matrix {
  const [rows, cols = 1] = t.shape;
  return { rows, cols, data: Float64Array.from(data) };
}

function checkTensorRank(fn: string, name: string, t: Tensor): void {
  if (t.rank !== 1 && t.rank !== 2) {
    throw new Error(`${fn}: ${name} must be a rank-2 tensor [rows, cols] or a rank-1 column, got ${t.dtype}[${t.shape.join(',')}]`);
  }
}

/**
 * Converts one matrix argument to a float64 Matrix. A Float64Array column shares its storage
 * (no copy); a Tensor is read synchronously (CPU backend; a WebGPU tensor needs
 * {@link matrixFromTensor} first, and the error says so).
 *
 * @example toMatrix('mseFlow', 'f0Train', net.apply(params, x)) // [n, 1] tensor -> n x 1 Matrix
 */
export function toMatrix(fn: string, name: string, value: MatrixInput): Matrix {
  if (value instanceof Tensor) {
    checkTensorRank(fn, name, value);
    let data;
    try {
      data = value.dataSync();
    } catch (e) {
      throw new Error(
        `${fn}: ${name} is a tensor on the ${value.backend.name} backend, which reads asynchronously; pass await matrixFromTensor(${name}) (from linearize) instead`,
        { cause: e },
      );
    }
    return tensorMatrix(value, data);
  }
  if (value instanceof Float64Array) return { rows: value.length, cols: 1, data: value };
  if (value instanceof Float32Array) return { rows: value.length, cols: 1, data: Float64Array.from(value) };
  const m = value as Partial<Matrix> | null | undefined;
  if (m === null || typeof m !== 'object' || !(m.data instanceof Float64Array) || !Number.isInteger(m.rows) || !Number.isInteger(m.cols)) {
    throw new Error(`${fn}: ${name} must be a Matrix { rows, cols, data: Float64Array }, a Tensor or a Float64Array/Float32Array column, got ${describe(value)}`);
  }
  if (m.rows! < 0 || m.cols! < 0 || m.data.length !== m.rows! * m.cols!) {
    throw new Error(`${fn}: ${name} is a ${m.rows}x${m.cols} matrix with ${m.data.length} entries (needs ${m.rows! * m.cols!})`);
  }
  return value as Matrix;
}

/** {@link toMatrix} for an optional argument. */
export function toMatrixOptional(fn: string, name: string, value: MatrixInput | undefined): Matrix | undefined {
  return value === undefined ? undefined : toMatrix(fn, name, value);
}

/**
 * Reads a tensor of rank 1 or 2 into a float64 Matrix on any backend (awaits the read, so it
 * works for WebGPU tensors too).
 *
 * @example const theta = await matrixFromTensor(empiricalNtk(f, params, x, x));
 */
export async function matrixFromTensor(t: Tensor): Promise<Matrix> {
  if (!(t instanceof Tensor)) throw new Error(`matrixFromTensor: expected a Tensor, got ${describe(t)}`);
  checkTensorRank('matrixFromTensor', 'the tensor', t);
  return tensorMatrix(t, await t.data());
}
