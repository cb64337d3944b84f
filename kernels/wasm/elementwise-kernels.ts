/**
 * The hot elementwise loops of the CPU backend in WebAssembly SIMD: binary arithmetic and
 * comparisons (`binary_<prec>`), the select `where_<prec>` and the sum over a leading axis
 * (`colsum_<prec>`), for float32 (f32x4) and float64
 * (f64x2). The JavaScript loops (kernels/cpu/elementwise.ts) run at about 1 ns per element in V8;
 * these at a fraction of that, on every thread. Results equal the JavaScript ones bit for bit:
 * IEEE add, sub, mul and div are exact to the same rounding in both; max and min use the same
 * comparison-and-select as the JavaScript expressions (x > y || x !== x ? x : y), so NaN
 * payloads and signed zeros come out the same; comparisons give exactly 1.0 or 0.0.
 *
 * Operands are read in one of three modes: `full` (element i), `scalar` (element 0 for every i)
 * or, for binary ops, `row` (element i mod P: a bias added along the last axes). Flat jobs cover
 * `chunk` elements, a multiple of the lanes, and may compute past n into the operand areas'
 * padding (which the caller never reads back); row jobs cover `chunk` rows, and a row's last
 * partial vector goes through the thread's scratch so no job writes into another's rows.
 */
import { Body, type ModuleBuilder, type SimdOp } from './emitter.ts';
import type { Precision } from './gemm-kernels.ts';

/** Binary ops by code; the JavaScript kernels of the same names (kernels/cpu/elementwise.ts). */
export const BINARY_CODES = {
  add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5,
  greater: 6, greaterEqual: 7, less: 8, lessEqual: 9, equal: 10, notEqual: 11,
} as const;
export type WasmBinaryOp = keyof typeof BINARY_CODES;

export const OPERAND_MODE = { full: 0, scalar: 1, row: 2 } as const;
export type OperandMode = keyof typeof OPERAND_MODE;

/** The (x, y) mode pairs the binary kernel has loops for. */
export const BINARY_MODES: readonly (readonly [OperandMode, OperandMode])[] = [
  ['full', 'full'], ['full', 'scalar'], ['scalar', 'full'], ['full', 'row'], ['row', 'full'],
];

/** Words of a binary job descriptor (i32); addresses in bytes. */
export const BINARY_DESC = { op: 0, xMode: 1, yMode: 2, x: 3, y: 4, out: 5, n: 6, period: 7, chunk: 8, words: 9 } as const;

/**
 * Words of a where job descriptor (i32). Modes are full (0) or scalar (1). The condition has the
 * output's type (the engine promotes all three operands to one float type).
 */
export const WHERE_DESC = { c: 0, a: 1, b: 2, out: 3, n: 4, cMode: 5, aMode: 6, bMode: 7, chunk: 8, words: 9 } as const;

export function addElementwise(mod: ModuleBuilder, prec: Precision): void {
  addBinary(mod, prec);
  addWhere(mod, prec);
  addColumnSum(mod, prec);
}

function lanesOf(prec: Precision): { E: number; lanes: number; shape: 'f32x4' | 'f64x2' } {
  return prec === 'f32' ? { E: 4, lanes: 4, shape: 'f32x4' } : { E: 8, lanes: 2, shape: 'f64x2' };
}

function addBinary(mod: ModuleBuilder, prec: Precision): void {
  const { E, lanes, shape } = lanesOf(prec);
  const f = new Body(['i32', 'i32', 'i32'], []);
  const [desc, job, scratch] = [0, 1, 2];
  const L = (t: 'i32' | 'v128' = 'i32') => f.local(t);
  const [op, xMode, yMode, x, y, out, n, period, chunk] = [L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const [i, end, r, rEnd, j, full, xp, yp, rowOff, t] = [L(), L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const [vx, vy, one] = [L('v128'), L('v128'), L('v128')];
  const D = BINARY_DESC;
  const word = (w: number) => f.get(desc).mem('i32.load', w * 4);
  word(D.op).set(op); word(D.xMode).set(xMode); word(D.yMode).set(yMode);
  word(D.x).set(x); word(D.y).set(y); word(D.out).set(out); word(D.n).set(n);
  word(D.period).set(period); word(D.chunk).set(chunk);
  (prec === 'f32' ? f.f32(1) : f.f64(1)).simd(`${shape}.splat`).set(one);

  /** vx op vy, result on the stack. */
  const apply = (code: number) => {
    const name = Object.keys(BINARY_CODES)[code] as WasmBinaryOp;
    const simd = (o: string) => f.simd(`${shape}.${o}` as SimdOp);
    switch (name) {
      case 'add': case 'sub': case 'mul': case 'div':
        f.get(vx).get(vy); simd(name); return;
      case 'max': case 'min':
        // x > y || x != x ? x : y (min: <), as the JavaScript expression.
        f.get(vx).get(vy).get(vx).get(vy); simd(name === 'max' ? 'gt' : 'lt');
        f.get(vx).get(vx); simd('ne'); f.simd('v128.or').simd('v128.bitselect');
        return;
      default: {
        const cmp = { greater: 'gt', greaterEqual: 'ge', less: 'lt', lessEqual: 'le', equal: 'eq', notEqual: 'ne' }[name];
        f.get(vx).get(vy); simd(cmp); f.get(one).simd('v128.and');
      }
    }
  };
  const load = (mode: OperandMode, base: number, into: number) => {
    // Scalar operands were splat once before the loop.
    if (mode !== 'scalar') f.get(base).mem('v128.load', 0, 0).set(into);
  };
  const splatScalar = (mode: OperandMode, base: number, into: number) => {
    if (mode === 'scalar') f.get(base).mem(prec === 'f32' ? 'v128.load32_splat' : 'v128.load64_splat', 0).set(into);
  };

  for (let code = 0; code < Object.keys(BINARY_CODES).length; code++) {
    f.get(op).i32(code).op('i32.eq');
    f.if(() => {
      for (const [mx, my] of BINARY_MODES) {
        f.get(xMode).i32(OPERAND_MODE[mx]).op('i32.eq').get(yMode).i32(OPERAND_MODE[my]).op('i32.eq').op('i32.and');
        f.if(() => {
          splatScalar(mx, x, vx);
          splatScalar(my, y, vy);
          if (mx !== 'row' && my !== 'row') {
            // Elements [job * chunk, min(n, (job + 1) * chunk)), whole vectors.
            f.get(job).get(chunk).op('i32.mul').tee(i).get(chunk).op('i32.add').tee(end).get(n).op('i32.gt_s');
            f.if(() => { f.get(n).set(end); });
            f.block(() => f.loop(() => {
              f.get(i).get(end).op('i32.ge_s').brIf(1);
              f.get(i).i32(E).op('i32.mul').set(t);
              if (mx === 'full') f.get(x).get(t).op('i32.add').set(xp);
              if (my === 'full') f.get(y).get(t).op('i32.add').set(yp);
              load(mx, xp, vx);
              load(my, yp, vy);
              f.get(out).get(t).op('i32.add');
              apply(code);
              f.mem('v128.store', 0, 0);
              f.get(i).i32(lanes).op('i32.add').set(i);
              f.br(0);
            }));
          } else {
            // Rows [job * chunk, ...) of P elements; the row operand restarts at each row.
            const rowBase = mx === 'row' ? x : y;
            f.get(period).get(period).i32(lanes).op('i32.rem_u').op('i32.sub').set(full);
            f.get(job).get(chunk).op('i32.mul').tee(r).get(chunk).op('i32.add').tee(rEnd)
              .get(n).get(period).op('i32.div_u').tee(t).op('i32.gt_s');
            f.if(() => { f.get(t).set(rEnd); });
            f.block(() => f.loop(() => {
              f.get(r).get(rEnd).op('i32.ge_s').brIf(1);
              // rowOff = byte offset of the row in the full operands.
              f.get(r).get(period).op('i32.mul').i32(E).op('i32.mul').set(rowOff);
              const step = (tail: boolean) => {
                f.get(j).i32(E).op('i32.mul').set(t);
                f.get(rowBase).get(t).op('i32.add').set(mx === 'row' ? xp : yp);
                f.get(mx === 'row' ? y : x).get(rowOff).op('i32.add').get(t).op('i32.add').set(mx === 'row' ? yp : xp);
                load('full', xp, vx);
                load('full', yp, vy);
                if (tail) f.get(scratch);
                else f.get(out).get(rowOff).op('i32.add').get(t).op('i32.add');
                apply(code);
                f.mem('v128.store', 0, 0);
              };
              f.for(j, () => f.i32(0), () => f.get(full), lanes, () => step(false));
              f.get(full).get(period).op('i32.lt_s');
              f.if(() => {
                // The last partial vector: computed into scratch, its valid lanes copied out.
                f.get(full).set(j);
                step(true);
                f.for(j, () => f.get(full), () => f.get(period), 1, () => {
                  f.get(out).get(rowOff).op('i32.add').get(j).i32(E).op('i32.mul').op('i32.add');
                  f.get(scratch).get(j).get(full).op('i32.sub').i32(E).op('i32.mul').op('i32.add');
                  f.mem(prec === 'f32' ? 'f32.load' : 'f64.load', 0).mem(prec === 'f32' ? 'f32.store' : 'f64.store', 0);
                });
              });
              f.get(r).i32(1).op('i32.add').set(r);
              f.br(0);
            }));
          }
        });
      }
    });
  }
  mod.func(f, `binary_${prec}`);
}

function addWhere(mod: ModuleBuilder, prec: Precision): void {
  const { E, lanes, shape } = lanesOf(prec);
  const f = new Body(['i32', 'i32', 'i32'], []);
  const [desc, job] = [0, 1];
  const L = (t: 'i32' | 'v128' = 'i32') => f.local(t);
  const [c, a, b, out, n, cMode, aMode, bMode, chunk, i, end, t] = [L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const [vc, va, vb, zero] = [L('v128'), L('v128'), L('v128'), L('v128')];
  const D = WHERE_DESC;
  const word = (w: number) => f.get(desc).mem('i32.load', w * 4);
  word(D.c).set(c); word(D.a).set(a); word(D.b).set(b); word(D.out).set(out); word(D.n).set(n);
  word(D.cMode).set(cMode); word(D.aMode).set(aMode); word(D.bMode).set(bMode); word(D.chunk).set(chunk);
  f.i32(0).simd('i32x4.splat').set(zero);
  const splat = prec === 'f32' ? 'v128.load32_splat' : 'v128.load64_splat';
  for (let modes = 0; modes < 8; modes++) {
    const [cs, as, bs] = [(modes & 1) !== 0, (modes & 2) !== 0, (modes & 4) !== 0];
    f.get(cMode).i32(+cs).op('i32.eq')
      .get(aMode).i32(+as).op('i32.eq').op('i32.and')
      .get(bMode).i32(+bs).op('i32.eq').op('i32.and');
    f.if(() => {
      if (cs) f.get(c).mem(splat, 0).set(vc);
      if (as) f.get(a).mem(splat, 0).set(va);
      if (bs) f.get(b).mem(splat, 0).set(vb);
      f.get(job).get(chunk).op('i32.mul').tee(i).get(chunk).op('i32.add').tee(end).get(n).op('i32.gt_s');
      f.if(() => { f.get(n).set(end); });
      f.block(() => f.loop(() => {
        f.get(i).get(end).op('i32.ge_s').brIf(1);
        f.get(i).i32(E).op('i32.mul').set(t);
        if (!cs) f.get(c).get(t).op('i32.add').mem('v128.load', 0, 0).set(vc);
        if (!as) f.get(a).get(t).op('i32.add').mem('v128.load', 0, 0).set(va);
        if (!bs) f.get(b).get(t).op('i32.add').mem('v128.load', 0, 0).set(vb);
        // bitselect(a, b, c != 0): NaN != 0 selects a, as in JavaScript.
        f.get(out).get(t).op('i32.add');
        f.get(va).get(vb).get(vc).get(zero).simd(`${shape}.ne`);
        f.simd('v128.bitselect').mem('v128.store', 0, 0);
        f.get(i).i32(lanes).op('i32.add').set(i);
        f.br(0);
      }));
    });
  }
  mod.func(f, `where_${prec}`);
}

/**
 * Words of a column-sum job descriptor (i32): acc[c] += sum over rows r of x[r * period + c], for
 * c in a job's columns; acc is float64 (as the JavaScript reduction's accumulator), x float32 or
 * float64. Columns per job are even, so a job's column pairs never straddle another job's.
 */
export const COLSUM_DESC = { x: 0, acc: 1, rows: 2, period: 3, colsPerJob: 4, words: 5 } as const;

/**
 * Adds `colsum_<prec>`: the sum over the leading axis of a [rows, period] array (a bias gradient,
 * the sum over a batch), accumulated in float64 row by row in order, like the JavaScript loop
 * (kernels/cpu/reduce.ts), so the sums are the same bits; two columns per f64x2 step.
 */
function addColumnSum(mod: ModuleBuilder, prec: Precision): void {
  const E = prec === 'f32' ? 4 : 8;
  const f = new Body(['i32', 'i32', 'i32'], []);
  const [desc, job] = [0, 1];
  const L = () => f.local('i32');
  const [x, acc, rows, period, c0, c1, r, c, row, pairEnd] = [L(), L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const D = COLSUM_DESC;
  const word = (w: number) => f.get(desc).mem('i32.load', w * 4);
  word(D.x).set(x); word(D.acc).set(acc); word(D.rows).set(rows); word(D.period).set(period);
  f.get(job).get(desc).mem('i32.load', D.colsPerJob * 4).op('i32.mul').tee(c0).get(desc).mem('i32.load', D.colsPerJob * 4).op('i32.add').tee(c1)
    .get(period).op('i32.gt_s');
  f.if(() => { f.get(period).set(c1); });
  // Whole pairs end at pairEnd; an odd last column (only in the last job) is summed alone.
  f.get(c1).get(c1).get(c0).op('i32.sub').i32(1).op('i32.and').op('i32.sub').set(pairEnd);
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(x).get(r).get(period).op('i32.mul').i32(E).op('i32.mul').op('i32.add').set(row);
    f.for(c, () => f.get(c0), () => f.get(pairEnd), 2, () => {
      f.get(acc).get(c).i32(8).op('i32.mul').op('i32.add');
      f.get(acc).get(c).i32(8).op('i32.mul').op('i32.add').mem('v128.load', 0, 0);
      f.get(row).get(c).i32(E).op('i32.mul').op('i32.add');
      if (prec === 'f32') f.mem('v128.load64_zero', 0, 0).simd('f64x2.promote_low_f32x4');
      else f.mem('v128.load', 0, 0);
      f.simd('f64x2.add').mem('v128.store', 0, 0);
    });
    f.get(pairEnd).get(c1).op('i32.lt_s');
    f.if(() => {
      f.get(acc).get(pairEnd).i32(8).op('i32.mul').op('i32.add');
      f.get(acc).get(pairEnd).i32(8).op('i32.mul').op('i32.add').mem('f64.load', 0, 0);
      f.get(row).get(pairEnd).i32(E).op('i32.mul').op('i32.add');
      if (prec === 'f32') f.mem('f32.load', 0, 0).op('f64.promote_f32');
      else f.mem('f64.load', 0, 0);
      f.op('f64.add').mem('f64.store', 0, 0);
    });
  });
  mod.func(f, `colsum_${prec}`);
}
