/**
 * Dense row-major float64 linear algebra on the host: the one home of the eigensolvers, Cholesky
 * and matrix helpers that linearize/ (closed-form dynamics, GPs) and models/ (Gauss-Hermite
 * nodes of the kernel quadrature) use.
 *
 * Pure functions on {@link Matrix} values; nothing here depends on the tensor
 * engine. The symmetric eigensolver is a Householder tridiagonalization
 * followed by the implicit QL algorithm (the EISPACK tred2/tql2 pair, as in
 * JAMA), written directly on Float64Array storage: O(n^3), backward stable,
 * eigenvalues accurate to about eps * ||A|| in absolute terms.
 */

/** A dense row-major float64 matrix: entry (i, j) lives at `data[i * cols + j]`. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/** A matrix, or a Float64Array read as a column vector (length x 1). */
export type MatrixLike = Matrix | Float64Array;

/** Result of {@link symmetricEigen}: `a = vectors * diag(values) * vectors^T`. */
export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  readonly values: Float64Array;
  /** Orthogonal matrix whose column j is the eigenvector of `values[j]`. */
  readonly vectors: Matrix;
}

/** Default relative tolerance of {@link assertSymmetric}: |a_ij - a_ji| <= tol * max|a|. */
export const DEFAULT_SYMMETRY_TOLERANCE = 1e-6;

/**
 * Builds a matrix, copying `data` (or zero-filling when omitted).
 *
 * @example
 * const a = matrix(2, 2, [1, 2, 3, 4]); // [[1, 2], [3, 4]]
 */
export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new Error(`matrix: invalid shape ${rows}x${cols}`);
  }
  const out = new Float64Array(rows * cols);
  if (data !== undefined) {
    if (data.length !== rows * cols) {
      throw new Error(`matrix: ${rows}x${cols} needs ${rows * cols} entries, got ${data.length}`);
    }
    out.set(data);
  }
  return { rows, cols, data: out };
}

/**
 * Builds a matrix from nested row arrays.
 *
 * @example
 * const a = fromRows([[1, 2], [3, 4]]); // a.data = [1, 2, 3, 4]
 */
export function fromRows(rowsArr: readonly (readonly number[])[]): Matrix {
  const rows = rowsArr.length;
  const cols = rows === 0 ? 0 : rowsArr[0].length;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    if (rowsArr[i].length !== cols) {
      throw new Error(`fromRows: row ${i} has ${rowsArr[i].length} entries, expected ${cols}`);
    }
    for (let j = 0; j < cols; j++) out[i * cols + j] = rowsArr[i][j];
  }
  return { rows, cols, data: out };
}

/**
 * Converts a matrix to nested row arrays (handy in tests and logs).
 *
 * @example
 * toRows(identity(2)); // [[1, 0], [0, 1]]
 */
export function toRows(a: Matrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < a.rows; i++) out.push(Array.from(a.data.subarray(i * a.cols, (i + 1) * a.cols)));
  return out;
}

/**
 * Zero matrix.
 *
 * @example
 * zeros(2, 3).data.length; // 6
 */
export function zeros(rows: number, cols: number): Matrix {
  return matrix(rows, cols);
}

/**
 * Identity matrix of order n.
 *
 * @example
 * identity(2).data; // [1, 0, 0, 1]
 */
export function identity(n: number): Matrix {
  const a = matrix(n, n);
  for (let i = 0; i < n; i++) a.data[i * n + i] = 1;
  return a;
}

/**
 * Column vector (n x 1) copying `values`.
 *
 * @example
 * columnVector([1, 2]); // 2x1
 */
export function columnVector(values: ArrayLike<number>): Matrix {
  return matrix(values.length, 1, values);
}

/**
 * Normalizes a {@link MatrixLike}: a Float64Array becomes an n x 1 matrix sharing its storage.
 *
 * @example
 * asMatrix(new Float64Array([1, 2])).cols; // 1
 */
export function asMatrix(a: MatrixLike): Matrix {
  if (a instanceof Float64Array) return { rows: a.length, cols: 1, data: a };
  if (a.data.length !== a.rows * a.cols) {
    throw new Error(`asMatrix: ${a.rows}x${a.cols} matrix has ${a.data.length} entries`);
  }
  return a;
}

/**
 * Deep copy.
 *
 * @example
 * const b = clone(a); b.data[0] = 9; // a unchanged
 */
export function clone(a: Matrix): Matrix {
  return { rows: a.rows, cols: a.cols, data: Float64Array.from(a.data) };
}

/** Formats a shape as `RxC` for error messages. */
export function shapeOf(a: Matrix): string {
  return `${a.rows}x${a.cols}`;
}

/**
 * Throws unless every entry is finite; the message names `fn`, the argument, its shape and the first bad entry.
 *
 * @example
 * assertFinite('mseFlow', 'thetaTrain', a);
 */
export function assertFinite(fn: string, name: string, a: Matrix): void {
  const d = a.data;
  for (let idx = 0; idx < d.length; idx++) {
    if (!Number.isFinite(d[idx])) {
      const i = Math.floor(idx / a.cols);
      const j = idx - i * a.cols;
      throw new Error(`${fn}: ${name} (${shapeOf(a)}) has a non-finite entry ${d[idx]} at (${i}, ${j})`);
    }
  }
}

/**
 * Throws unless `a` is square.
 *
 * @example
 * assertSquare('cholesky', 'a', a);
 */
export function assertSquare(fn: string, name: string, a: Matrix): void {
  if (a.rows !== a.cols) throw new Error(`${fn}: ${name} must be square, got ${shapeOf(a)}`);
}

/**
 * Throws unless `a` has exactly the given shape.
 *
 * @example
 * assertShape('mseFlow', 'yTrain', y, 4, 1);
 */
export function assertShape(fn: string, name: string, a: Matrix, rows: number, cols: number): void {
  if (a.rows !== rows || a.cols !== cols) {
    throw new Error(`${fn}: ${name} must be ${rows}x${cols}, got ${shapeOf(a)}`);
  }
}

/** Largest absolute entry (0 for an empty matrix). */
export function maxAbs(a: Matrix): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const v = Math.abs(a.data[i]);
    if (v > m) m = v;
  }
  return m;
}

/**
 * Throws unless `a` is square, finite and symmetric within `tol` relative to its largest entry.
 *
 * @example
 * assertSymmetric('symmetricEigen', 'a', a, 1e-10);
 */
export function assertSymmetric(fn: string, name: string, a: Matrix, tol = DEFAULT_SYMMETRY_TOLERANCE): void {
  assertSquare(fn, name, a);
  assertFinite(fn, name, a);
  const n = a.rows;
  const d = a.data;
  const bound = tol * maxAbs(a);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const diff = Math.abs(d[i * n + j] - d[j * n + i]);
      if (diff > bound) {
        throw new Error(
          `${fn}: ${name} (${shapeOf(a)}) is not symmetric: a[${i},${j}]=${d[i * n + j]} vs a[${j},${i}]=${d[j * n + i]} ` +
            `(|diff| ${diff.toExponential(3)} > ${tol} * max|a|)`,
        );
      }
    }
  }
}

/**
 * Returns `(a + a^T) / 2`.
 *
 * @example
 * symmetrize(fromRows([[1, 2], [0, 1]])); // [[1, 1], [1, 1]]
 */
export function symmetrize(a: Matrix): Matrix {
  assertSquare('symmetrize', 'a', a);
  const n = a.rows;
  const out = matrix(n, n);
  const s = a.data;
  const o = out.data;
  for (let i = 0; i < n; i++) {
    o[i * n + i] = s[i * n + i];
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (s[i * n + j] + s[j * n + i]);
      o[i * n + j] = v;
      o[j * n + i] = v;
    }
  }
  return out;
}

/**
 * Transpose.
 *
 * @example
 * transpose(fromRows([[1, 2, 3]])); // 3x1
 */
export function transpose(a: Matrix): Matrix {
  const out = matrix(a.cols, a.rows);
  const s = a.data;
  const o = out.data;
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < a.cols; j++) o[j * a.rows + i] = s[i * a.cols + j];
  }
  return out;
}

/**
 * Matrix product `a * b`.
 *
 * @example
 * matmul(fromRows([[1, 2]]), fromRows([[3], [4]])); // [[11]]
 */
export function matmul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) {
    throw new Error(`matmul: inner dimensions differ: ${shapeOf(a)} * ${shapeOf(b)}`);
  }
  const m = a.rows;
  const k = a.cols;
  const n = b.cols;
  const out = matrix(m, n);
  const A = a.data;
  const B = b.data;
  const C = out.data;
  // i-k-j order keeps the inner loop contiguous in both b and the output.
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = A[i * k + p];
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) C[ci + j] += aip * B[bp + j];
    }
  }
  return out;
}

/**
 * Product `a^T * b` without forming the transpose.
 *
 * @example
 * matmulTransposeA(v, r); // v^T r
 */
export function matmulTransposeA(a: Matrix, b: Matrix): Matrix {
  if (a.rows !== b.rows) {
    throw new Error(`matmulTransposeA: row counts differ: ${shapeOf(a)}^T * ${shapeOf(b)}`);
  }
  const m = a.cols;
  const k = a.rows;
  const n = b.cols;
  const out = matrix(m, n);
  const A = a.data;
  const B = b.data;
  const C = out.data;
  for (let p = 0; p < k; p++) {
    const bp = p * n;
    const ap = p * m;
    for (let i = 0; i < m; i++) {
      const api = A[ap + i];
      if (api === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) C[ci + j] += api * B[bp + j];
    }
  }
  return out;
}

/**
 * Elementwise `alpha * a + beta * b` (same shapes).
 *
 * @example
 * addScaled(a, b, 1, -1); // a - b
 */
export function addScaled(a: Matrix, b: Matrix, alpha = 1, beta = 1): Matrix {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new Error(`addScaled: shapes differ: ${shapeOf(a)} vs ${shapeOf(b)}`);
  }
  const out = matrix(a.rows, a.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = alpha * a.data[i] + beta * b.data[i];
  return out;
}

/**
 * Scales the rows of `a` by `s` (i.e. `diag(s) * a`).
 *
 * @example
 * scaleRows(identity(2), new Float64Array([2, 3])); // diag(2, 3)
 */
export function scaleRows(a: Matrix, s: ArrayLike<number>): Matrix {
  if (s.length !== a.rows) throw new Error(`scaleRows: ${s.length} scales for ${shapeOf(a)}`);
  const out = matrix(a.rows, a.cols);
  for (let i = 0; i < a.rows; i++) {
    const si = s[i];
    for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j] = si * a.data[i * a.cols + j];
  }
  return out;
}

/** Frobenius norm. */
export function frobeniusNorm(a: Matrix): number {
  let scale = 0;
  let ssq = 1;
  for (let i = 0; i < a.data.length; i++) {
    const v = Math.abs(a.data[i]);
    if (v === 0) continue;
    if (scale < v) {
      ssq = 1 + ssq * (scale / v) * (scale / v);
      scale = v;
    } else {
      ssq += (v / scale) * (v / scale);
    }
  }
  return scale * Math.sqrt(ssq);
}

/**
 * Thrown by {@link cholesky} when the matrix is not (numerically) positive definite.
 * `pivot` is the failing column and `value` the non-positive Schur complement entry.
 */
export class NotPositiveDefiniteError extends Error {
  constructor(
    message: string,
    readonly pivot: number,
    readonly value: number,
  ) {
    super(message);
    this.name = 'NotPositiveDefiniteError';
  }
}

/**
 * Lower-triangular Cholesky factor `L` with `a = L L^T`. Reads the lower triangle;
 * the input must pass {@link assertSymmetric}. Throws {@link NotPositiveDefiniteError}
 * when a pivot is not positive.
 *
 * @example
 * cholesky(fromRows([[4, 2], [2, 2]])); // [[2, 0], [1, 1]]
 */
export function cholesky(a: Matrix, opts: { fn?: string; name?: string; symmetryTolerance?: number } = {}): Matrix {
  const fn = opts.fn ?? 'cholesky';
  const name = opts.name ?? 'a';
  assertSymmetric(fn, name, a, opts.symmetryTolerance);
  const n = a.rows;
  const L = matrix(n, n);
  const A = a.data;
  const l = L.data;
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j];
    for (let p = 0; p < j; p++) s -= l[j * n + p] * l[j * n + p];
    // The extra relative threshold rejects pivots that are pure round-off, which would
    // otherwise produce a "successful" factorization with huge, meaningless entries.
    if (!(s > 0) || s <= n * Number.EPSILON * Math.abs(A[j * n + j])) {
      throw new NotPositiveDefiniteError(
        `${fn}: ${name} (${shapeOf(a)}) is not positive definite: Cholesky pivot ${j} is ${s} ` +
          `(the matrix is singular or indefinite to working precision)`,
        j,
        s,
      );
    }
    const ljj = Math.sqrt(s);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j];
      const li = i * n;
      const lj = j * n;
      for (let p = 0; p < j; p++) t -= l[li + p] * l[lj + p];
      l[i * n + j] = t / ljj;
    }
  }
  return L;
}

/**
 * Solves `L L^T x = b` given the Cholesky factor `L` (b may have several columns).
 *
 * @example
 * choleskySolveFactor(cholesky(a), b);
 */
export function choleskySolveFactor(L: Matrix, b: Matrix): Matrix {
  const n = L.rows;
  if (b.rows !== n) throw new Error(`choleskySolveFactor: right-hand side ${shapeOf(b)} does not match ${shapeOf(L)}`);
  const c = b.cols;
  const x = clone(b);
  const X = x.data;
  const l = L.data;
  // Forward substitution L y = b.
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < i; p++) {
      const lip = l[i * n + p];
      if (lip === 0) continue;
      for (let j = 0; j < c; j++) X[i * c + j] -= lip * X[p * c + j];
    }
    const d = l[i * n + i];
    for (let j = 0; j < c; j++) X[i * c + j] /= d;
  }
  // Back substitution L^T x = y.
  for (let i = n - 1; i >= 0; i--) {
    for (let p = i + 1; p < n; p++) {
      const lpi = l[p * n + i];
      if (lpi === 0) continue;
      for (let j = 0; j < c; j++) X[i * c + j] -= lpi * X[p * c + j];
    }
    const d = l[i * n + i];
    for (let j = 0; j < c; j++) X[i * c + j] /= d;
  }
  return x;
}

/**
 * Solves `a x = b` for symmetric positive definite `a` via Cholesky.
 * Throws {@link NotPositiveDefiniteError} (message names `fn` and the shape) when `a` is not PD.
 *
 * @example
 * choleskySolve(fromRows([[2, 0], [0, 4]]), columnVector([2, 4])); // [1, 1]
 */
export function choleskySolve(
  a: Matrix,
  b: Matrix,
  opts: { fn?: string; name?: string; symmetryTolerance?: number } = {},
): Matrix {
  const fn = opts.fn ?? 'choleskySolve';
  assertFinite(fn, 'b', b);
  if (b.rows !== a.rows) throw new Error(`${fn}: right-hand side ${shapeOf(b)} does not match ${shapeOf(a)}`);
  return choleskySolveFactor(cholesky(a, { ...opts, fn }), b);
}

/**
 * Symmetric eigendecomposition `a = V diag(values) V^T`, eigenvalues ascending.
 * Validates that `a` is square, finite and symmetric within `symmetryTolerance`
 * (relative to max|a|), then works on the symmetrized matrix.
 *
 * @example
 * const { values, vectors } = symmetricEigen(fromRows([[2, 1], [1, 2]])); // values [1, 3]
 */
export function symmetricEigen(a: Matrix, opts: { fn?: string; name?: string; symmetryTolerance?: number } = {}): SymmetricEigen {
  const fn = opts.fn ?? 'symmetricEigen';
  assertSymmetric(fn, opts.name ?? 'a', a, opts.symmetryTolerance);
  const n = a.rows;
  if (n === 0) return { values: new Float64Array(0), vectors: matrix(0, 0) };
  // Both phases run on the TRANSPOSE of the textbook V (W[c * n + r] = V[r][c]): their inner
  // loops walk columns of V, which are then contiguous rows of W. The input is symmetric, so
  // its transpose is itself.
  const W = symmetrize(a).data;
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(n, W, d, e);
  tql2(n, W, d, e, fn);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y]);
  const values = new Float64Array(n);
  const vectors = matrix(n, n);
  for (let j = 0; j < n; j++) {
    const src = order[j];
    values[j] = d[src];
    for (let k = 0; k < n; k++) vectors.data[k * n + j] = W[src * n + k];
  }
  return { values, vectors };
}

/**
 * Reconstructs `V diag(s) V^T` (e.g. a matrix function from an eigendecomposition).
 *
 * @example
 * const { values, vectors } = symmetricEigen(a);
 * const sqrtA = fromEigen(vectors, values.map(Math.sqrt));
 */
export function fromEigen(vectors: Matrix, s: ArrayLike<number>): Matrix {
  const n = vectors.rows;
  if (vectors.cols !== s.length) throw new Error(`fromEigen: ${s.length} values for ${shapeOf(vectors)} vectors`);
  const k = vectors.cols;
  const out = matrix(n, n);
  const Vd = vectors.data;
  const o = out.data;
  const scaled = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < k; p++) scaled[p] = Vd[i * k + p] * s[p];
    for (let j = i; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += scaled[p] * Vd[j * k + p];
      o[i * n + j] = acc;
      o[j * n + i] = acc;
    }
  }
  return out;
}

/**
 * Eigenvalues (ascending) of the symmetric tridiagonal matrix with diagonal `diagonal` and
 * off-diagonal `offDiagonal` (entry i couples i and i + 1; length n - 1 or more, extra entries
 * ignored): the implicit QL iterations of symmetricEigen without the eigenvectors.
 * @example tridiagonalEigenvalues(Float64Array.of(0, 0), Float64Array.of(1)) // [-1, 1]
 */
export function tridiagonalEigenvalues(diagonal: ArrayLike<number>, offDiagonal: ArrayLike<number>, fn = 'tridiagonalEigenvalues'): Float64Array {
  const n = diagonal.length;
  if (offDiagonal.length < n - 1) throw new Error(`${fn}: a ${n}x${n} tridiagonal matrix needs ${n - 1} off-diagonal entries, got ${offDiagonal.length}`);
  const d = Float64Array.from(diagonal);
  // tql2 reads e[i] as the coupling of i - 1 and i (e[0] unused).
  const e = new Float64Array(n);
  for (let i = 1; i < n; i++) e[i] = offDiagonal[i - 1];
  tql2(n, null, d, e, fn);
  return d.sort();
}

// Householder reduction to tridiagonal form (EISPACK tred2 via JAMA), written on
// transposed storage: entry (r, c) of JAMA's V lives at V[c * n + r]. On entry V holds
// the symmetric matrix; on exit it holds the (transposed) orthogonal transformation,
// d the diagonal and e the subdiagonal (e[0] = 0).
function tred2(n: number, V: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = V[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[j * n + i - 1];
        V[j * n + i] = 0;
        V[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[i * n + j] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[j * n + k] * d[k];
          e[k] += V[j * n + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[j * n + k] -= f * e[k] + g * d[k];
        d[j] = V[j * n + i - 1];
        V[j * n + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    V[i * n + n - 1] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[(i + 1) * n + k] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[(i + 1) * n + k] * V[j * n + k];
        for (let k = 0; k <= i; k++) V[j * n + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[(i + 1) * n + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[j * n + n - 1];
    V[j * n + n - 1] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

// Implicit QL iterations on the tridiagonal matrix (EISPACK tql2 via JAMA).
// W is the transposed transformation left by tred2 (row k of W = column k of V), so each
// plane rotation touches two contiguous rows.
function tql2(n: number, W: Float64Array | null, d: Float64Array, e: Float64Array, fn: string): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = Number.EPSILON;
  const maxIter = 60;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > maxIter) {
          throw new Error(`${fn}: QL iteration did not converge for eigenvalue ${l} of a ${n}x${n} matrix`);
        }
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (W === null) continue;
          const ri = i * n;
          const ri1 = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = W[ri1 + k];
            W[ri1 + k] = s * W[ri + k] + c * hk;
            W[ri + k] = c * W[ri + k] - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
