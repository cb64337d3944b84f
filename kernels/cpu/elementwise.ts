/** CPU kernels for the elementwise primitives; broadcasting reads through stride-0 axes. */
import type { KernelInput } from '../../engine/backend.ts';
import { toInt32, type DType, type TypedArray } from '../../engine/dtype.ts';
import { shapesEqual, sizeOf, type Shape } from '../../engine/shape.ts';
import { erf } from '../../engine/special/erf.ts';
import { isWasmBinaryOp, wasmBinary, wasmWhere, type BinaryOperand } from '../wasm/elementwise.ts';
import { canGenerateCode, type CodegenPolicy } from './codegen.ts';
import { wasmMinWork, wasmRuntime } from './config.ts';
import { broadcastBinary, stridedBinaryLoop, stridedBinarySource, type StridedBinaryLoop } from './strided.ts';
import { broadcastView, materialize } from './views.ts';
import { allocateOverwritten } from './storage.ts';

export type CpuInput = KernelInput<TypedArray>;
export type CpuKernel = (inputs: readonly CpuInput[], params: any, outShape: Shape, dtype: DType) => TypedArray;

/**
 * Each op gets its own generated loop (as ndarray-ops' cwise does): a loop shared by all ops would
 * call its op through a megamorphic closure that V8 cannot inline, which costs several times more
 * than the arithmetic itself. Where generated code is refused (a Content-Security-Policy without
 * 'unsafe-eval'), each kernel falls back to closure loops calling its op, decided at its first
 * call (codegen.ts). The fallback's loops are shared by all ops (closures from one literal share
 * V8's type feedback), so their op call is megamorphic: measured in Node 20 on 2^16 float32
 * elements with every op warmed up, generated vs closure loops: add 0.10 vs 0.59 ms, mul by a
 * scalar 0.07 vs 0.49 ms, [32, 2048] + [2048] 0.12 vs 0.61 ms, neg 0.08 vs 0.45 ms, exp 0.46 vs
 * 0.94 ms: elementwise ops run 2-6x slower under a strict CSP; matmul, conv and reductions do
 * not generate code and run at full speed. test/kernels/cpu/codegen.test.ts checks both paths agree.
 */
type UnaryOp = (x: number) => number;
type BinaryOp = (x: number, y: number) => number;
type UnaryLoop = (src: TypedArray, out: TypedArray, n: number, fn: UnaryOp) => void;
type BinaryLoop = (x: TypedArray, y: TypedArray, out: TypedArray, n: number) => void;

/** Unary ops: the loop body's expression in `x` (`fn` is the op itself) and the op as a function. */
const UNARY = {
  neg: ['-x', (x: number) => -x],
  exp: ['Math.exp(x)', Math.exp],
  log: ['Math.log(x)', Math.log],
  sqrt: ['Math.sqrt(x)', Math.sqrt],
  tanh: ['Math.tanh(x)', Math.tanh],
  erf: ['fn(x)', erf],
  abs: ['Math.abs(x)', Math.abs],
  // Math.sign(-0) is -0; a sign of exactly 0 keeps the derivative of abs at 0 equal to 0.
  sign: ['x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN', (x: number) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN)],
  sin: ['Math.sin(x)', Math.sin],
  cos: ['Math.cos(x)', Math.cos],
  log1p: ['Math.log1p(x)', Math.log1p],
  expm1: ['Math.expm1(x)', Math.expm1],
  acos: ['Math.acos(x)', Math.acos],
  asin: ['Math.asin(x)', Math.asin],
} satisfies Record<string, [expr: string, op: UnaryOp]>;

/** Binary ops: the loop body's expression in `x` and `y`, and the op as a function. */
const BINARY = {
  add: ['x + y', (x: number, y: number) => x + y],
  sub: ['x - y', (x: number, y: number) => x - y],
  mul: ['x * y', (x: number, y: number) => x * y],
  div: ['x / y', (x: number, y: number) => x / y],
  // NaN propagates, as in NumPy.
  max: ['x > y || x !== x ? x : y', (x: number, y: number) => (x > y || x !== x ? x : y)],
  min: ['x < y || x !== x ? x : y', (x: number, y: number) => (x < y || x !== x ? x : y)],
  pow: ['Math.pow(x, y)', Math.pow],
  // +(boolean) compiles without a branch; `x > y ? 1 : 0` mispredicts on random data (4x slower).
  greater: ['+(x > y)', (x: number, y: number) => +(x > y)],
  greaterEqual: ['+(x >= y)', (x: number, y: number) => +(x >= y)],
  less: ['+(x < y)', (x: number, y: number) => +(x < y)],
  lessEqual: ['+(x <= y)', (x: number, y: number) => +(x <= y)],
  equal: ['+(x === y)', (x: number, y: number) => +(x === y)],
  notEqual: ['+(x !== y)', (x: number, y: number) => +(x !== y)],
} satisfies Record<string, [expr: string, op: BinaryOp]>;

function unaryLoop(expr: string, codegen: CodegenPolicy): UnaryLoop {
  if (codegen()) return new Function('src', 'out', 'n', 'fn', `for (let i = 0; i < n; i++) { const x = src[i]; out[i] = ${expr}; }`) as UnaryLoop;
  return (src, out, n, fn) => {
    for (let i = 0; i < n; i++) out[i] = fn(src[i]);
  };
}

function unary(expr: string, op: UnaryOp, codegen: CodegenPolicy): CpuKernel {
  let loop: UnaryLoop | undefined;
  return ([a], _p, _s, dtype) => {
    loop ??= unaryLoop(expr, codegen);
    const out = allocateOverwritten(dtype, a.storage.length);
    loop(a.storage, out, out.length, op);
    return out;
  };
}

/**
 * Four specialized loops: same shapes, scalar right operand, scalar left operand, and any other
 * broadcast (strided.ts).
 */
function binaryLoops(expr: string, op: BinaryOp, codegen: CodegenPolicy): { same: BinaryLoop; right: BinaryLoop; left: BinaryLoop; strided: StridedBinaryLoop } {
  if (codegen()) {
    const loop = (body: string) => new Function('xs', 'ys', 'out', 'n', body) as BinaryLoop;
    return {
      same: loop(`for (let i = 0; i < n; i++) { const x = xs[i], y = ys[i]; out[i] = ${expr}; }`),
      right: loop(`const y = ys[0]; for (let i = 0; i < n; i++) { const x = xs[i]; out[i] = ${expr}; }`),
      left: loop(`const x = xs[0]; for (let i = 0; i < n; i++) { const y = ys[i]; out[i] = ${expr}; }`),
      strided: new Function('xs', 'ys', 'out', 'shape', 'sx', 'sy', stridedBinarySource(expr)) as StridedBinaryLoop,
    };
  }
  return {
    same: (xs, ys, out, n) => {
      for (let i = 0; i < n; i++) out[i] = op(xs[i], ys[i]);
    },
    right: (xs, ys, out, n) => {
      const y = ys[0];
      for (let i = 0; i < n; i++) out[i] = op(xs[i], y);
    },
    left: (xs, ys, out, n) => {
      const x = xs[0];
      for (let i = 0; i < n; i++) out[i] = op(x, ys[i]);
    },
    strided: stridedBinaryLoop(op),
  };
}

function binary(name: string, expr: string, op: BinaryOp, codegen: CodegenPolicy): CpuKernel {
  let loops: ReturnType<typeof binaryLoops> | undefined;
  const viaWasm = isWasmBinaryOp(name) ? name : null;
  return ([a, b], _p, outShape, dtype) => {
    loops ??= binaryLoops(expr, op, codegen);
    if (viaWasm !== null && dtype !== 'int32') {
      const n = sizeOf(outShape);
      const rt = n >= wasmMinWork() ? wasmRuntime() : null;
      const modes = rt === null ? null : wasmModes(a, b, outShape, n);
      if (modes !== null) {
        const out = allocateOverwritten(dtype, n);
        if (wasmBinary(rt!, viaWasm, { data: a.storage, mode: modes[0] }, { data: b.storage, mode: modes[1] }, n, modes[2], out) !== null) return out;
        // The Wasm loops could not take it (no room in their memory): the JavaScript loops fill the same array.
        return binaryInJs(loops, a, b, outShape, out);
      }
    }
    return binaryInJs(loops, a, b, outShape, allocateOverwritten(dtype, sizeOf(outShape)));
  };
}

/**
 * The JavaScript loops into `out` (every element written). Everything that is not one of the flat
 * cases reads the operands through stride-0 axes, never materializing them.
 */
function binaryInJs(loops: ReturnType<typeof binaryLoops>, a: CpuInput, b: CpuInput, outShape: Shape, out: TypedArray): TypedArray {
  const x = a.storage;
  const y = b.storage;
  if (shapesEqual(a.shape, b.shape)) loops.same(x, y, out, out.length);
  else if (y.length === 1 && shapesEqual(a.shape, outShape)) loops.right(x, y, out, out.length);
  else if (x.length === 1 && shapesEqual(b.shape, outShape)) loops.left(x, y, out, out.length);
  else broadcastBinary(loops.strided, x, a.shape, y, b.shape, outShape, out);
  return out;
}

/**
 * How the Wasm binary loops read the operands of this call: each full, scalar or a row (a suffix
 * of the output's shape, read at i mod its length: the bias of a dense layer), or null when the
 * broadcast is of another kind (the strided JavaScript loop takes it).
 */
function wasmModes(a: CpuInput, b: CpuInput, outShape: Shape, n: number): [BinaryOperand['mode'], BinaryOperand['mode'], number] | null {
  const full = (t: CpuInput) => t.storage.length === n && shapesEqual(t.shape, outShape);
  if (full(a) && full(b)) return ['full', 'full', n];
  if (full(a) && b.storage.length === 1) return ['full', 'scalar', n];
  if (a.storage.length === 1 && full(b)) return ['scalar', 'full', n];
  if (full(a) && isTrailingRow(b, outShape)) return ['full', 'row', b.storage.length];
  if (full(b) && isTrailingRow(a, outShape)) return ['row', 'full', a.storage.length];
  return null;
}

/** Whether t, leading 1s dropped, is the output's trailing axes. */
function isTrailingRow(t: CpuInput, outShape: Shape): boolean {
  let lead = 0;
  while (lead < t.shape.length && t.shape[lead] === 1) lead++;
  const rest = t.shape.slice(lead);
  if (rest.length === 0 || rest.length > outShape.length) return false;
  return shapesEqual(rest, outShape.slice(outShape.length - rest.length));
}

/** The unary kernels with loops chosen by `codegen` at each kernel's first call. */
export function unaryKernelTable(codegen: CodegenPolicy): Record<keyof typeof UNARY, CpuKernel> {
  return Object.fromEntries(Object.entries(UNARY).map(([name, [expr, op]]) => [name, unary(expr, op, codegen)])) as Record<keyof typeof UNARY, CpuKernel>;
}

/** int32 products wrap modulo 2^32 (as WGSL's i32): x * y in doubles would round first. */
function byDType(float: CpuKernel, int32: CpuKernel): CpuKernel {
  return (inputs, params, outShape, dtype) => (dtype === 'int32' ? int32 : float)(inputs, params, outShape, dtype);
}

/** The binary kernels with loops chosen by `codegen` at each kernel's first call. */
export function binaryKernelTable(codegen: CodegenPolicy): Record<keyof typeof BINARY, CpuKernel> {
  const table = Object.fromEntries(Object.entries(BINARY).map(([name, [expr, op]]) => [name, binary(name, expr, op, codegen)])) as Record<keyof typeof BINARY, CpuKernel>;
  // int32 sums and differences are exact in doubles and the Int32Array store wraps them; products need Math.imul.
  table.mul = byDType(table.mul, binary('imul', 'Math.imul(x, y)', Math.imul, codegen));
  return table;
}

export const unaryKernels = unaryKernelTable(canGenerateCode);
export const binaryKernels = binaryKernelTable(canGenerateCode);

/**
 * cond ? a : b with a one-element operand read as a constant (relu and its gradient select against
 * a scalar 0: materializing it cost as much as the select). Operands broadcast any other way are
 * materialized. Where code generation is allowed, one loop per constant pattern and element size
 * selects bits without a branch: out = (a & m) | (b & ~m) with m = -(cond !== 0), over Int32 views
 * (two words per float64). A branch on a data-dependent condition mispredicts half the time on
 * relu's inputs: 2.5 ms against 0.35 ms for 2^17 float32 elements in Node 20. It also copies NaN
 * payloads and signed zeros exactly. The closure fallback (strict CSP) branches.
 */
export function whereKernel(codegen: CodegenPolicy): CpuKernel {
  const loops = new Map<string, WhereLoop>();
  const loopFor = (cConst: boolean, aConst: boolean, bConst: boolean, words: number): WhereLoop => {
    const key = `${+cConst}${+aConst}${+bConst}${words}`;
    let loop = loops.get(key);
    if (!loop) {
      if (codegen()) {
        const cond = cConst ? 'cs[0]' : 'cs[i]';
        const word = (name: string, isConst: boolean, w: number) => (isConst ? `${name}[${w}]` : `${name}[i * ${words} + ${w}]`);
        const body = Array.from({ length: words }, (_, w) =>
          `out[i * ${words} + ${w}] = (${word('as', aConst, w)} & m) | (${word('bs', bConst, w)} & ~m);`).join(' ');
        loop = new Function('cs', 'as', 'bs', 'out', 'n', `for (let i = 0; i < n; i++) { const m = -(+(${cond} !== 0)); ${body} }`) as WhereLoop;
      } else {
        const [dc, da, db] = [cConst ? 0 : 1, aConst ? 0 : 1, bConst ? 0 : 1];
        loop = (cs, as, bs, out, n) => {
          for (let i = 0; i < n; i++) out[i] = cs[i * dc] !== 0 ? as[i * da] : bs[i * db];
        };
      }
      loops.set(key, loop);
    }
    return loop;
  };
  return ([c, a, b], _p, outShape, dtype) => {
    const n = sizeOf(outShape);
    const cs = whereOperand(c, outShape, n, c.dtype), as = whereOperand(a, outShape, n, dtype), bs = whereOperand(b, outShape, n, dtype);
    const cConst = cs.length < n, aConst = as.length < n, bConst = bs.length < n;
    const out = allocateOverwritten(dtype, n);
    const rt = n >= wasmMinWork() ? wasmRuntime() : null;
    if (rt !== null && wasmWhere(rt, cs, as, bs, n, out) !== null) return out;
    if (!codegen()) {
      loopFor(cConst, aConst, bConst, 1)(cs, as, bs, out, n);
      return out;
    }
    const words = out.BYTES_PER_ELEMENT / 4;
    const bits = (x: TypedArray) => new Int32Array(x.buffer, x.byteOffset, x.length * words);
    loopFor(cConst, aConst, bConst, words)(cs, bits(as), bits(bs), bits(out), n);
    return out;
  };
}

/** A where operand as the loops read it: full length, or one element (a constant). */
function whereOperand(t: CpuInput, outShape: Shape, n: number, dtype: DType): TypedArray {
  return t.storage.length === n || t.storage.length === 1 ? t.storage : materialize(broadcastView(t.storage, t.shape, outShape), outShape, dtype);
}

type WhereLoop = (cs: TypedArray, as: TypedArray, bs: TypedArray, out: TypedArray, n: number) => void;

export const where = whereKernel(canGenerateCode);

/** Floats to int32 truncate toward zero and saturate, NaN to 0 (engine/dtype.ts toInt32), as WGSL's i32(). */
export const cast: CpuKernel = ([a], _p, _s, dtype) => {
  const src = a.storage;
  const out = allocateOverwritten(dtype, src.length);
  if (dtype === 'int32' && a.dtype !== 'int32') for (let i = 0; i < src.length; i++) out[i] = toInt32(src[i]);
  else out.set(src);
  return out;
};

/** Storage is immutable, so identity-like primitives share it. */
export const share: CpuKernel = ([a]) => a.storage;
