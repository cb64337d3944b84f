/**
 * Packed GEMM in WebAssembly SIMD, generated from TypeScript (BLIS layout, as kernels/cpu/gemm.ts,
 * but with 128-bit vectors): a block of B (KC x up to JC) and a block of A (up to MC x KC) are packed
 * into per-thread scratch as slivers of NR columns / MR rows, zero-padded, and an MR x NR
 * register-blocked micro-kernel keeps MR * NR / lanes vector accumulators over the depth loop.
 *
 * Work is cut into jobs, each a rectangle of C (rows x cols, from the descriptor), so threads can
 * take jobs independently. Every element of C is computed by one job, over the same KC depth
 * blocks in the same order, so the result does not depend on how many threads ran or which job
 * ran where: bit-identical for any thread count.
 *
 * Numerics: float32 accumulates in float32 (f32x4), float64 in float64 (f64x2); each KC block is
 * summed in registers then added to C. With `fma` the multiply-add is relaxed_madd (fused where
 * the hardware has FMA, which is allowed to differ in the last bit from mul + add).
 */
import { Body, ModuleBuilder, type MemOp, type SimdOp } from './emitter.ts';

export type Precision = 'f32' | 'f64';

export interface GemmShape {
  /** Bytes per element. */
  elem: number;
  /** Lanes per v128. */
  lanes: number;
  /** Micro-tile rows (of A / C). */
  MR: number;
  /** Micro-tile columns (of B / C), a multiple of lanes. */
  NR: number;
  /** Depth of one packed block. */
  KC: number;
  /** Most rows of one job (a multiple of MR): one packed A block. */
  MC: number;
  /** Most columns of one job (a multiple of NR): one packed B block. */
  JC: number;
}

/**
 * Tile sizes, measured (CPU time per 512^3 product, one thread, V8 in Node 20, mul + add, AMD EPYC
 * with AVX2): float32 5x8 (10 f32x4 accumulators) 40 GFLOP/s against 4x8 33, 6x8 23, 7x8 28, 3x16
 * 22; float64 2x8 (8 f64x2 accumulators) 20 GFLOP/s against 3x4 15, 6x4 11, 3x8 11. Past about 10
 * accumulators V8 spills vectors inside the depth loop. KC x MR and KC x NR slivers stay in L1, an
 * MC x KC A block in L2.
 */
export const GEMM_SHAPES: Record<Precision, GemmShape> = {
  f32: { elem: 4, lanes: 4, MR: 5, NR: 8, KC: 256, MC: 100, JC: 512 },
  f64: { elem: 8, lanes: 2, MR: 2, NR: 8, KC: 256, MC: 48, JC: 256 },
};

/** Bytes of per-thread scratch a kernel of this shape needs: packed B, packed A, one edge tile. */
export function gemmScratchBytes(s: GemmShape): number {
  return s.KC * s.JC * s.elem + s.MC * s.KC * s.elem + s.MR * s.NR * s.elem;
}

/** Words of a GEMM job descriptor (i32, at a 4-byte aligned address). Addresses and strides are in bytes. */
export const GEMM_DESC = {
  m: 0, n: 1, k: 2,
  a: 3, aRowStride: 4, aDepthStride: 5,
  b: 6, bColStride: 7, bDepthStride: 8,
  c: 9, ldc: 10,
  jobRows: 11, jobCols: 12, colJobs: 13,
  words: 14,
} as const;

/**
 * Adds `gemm_<prec>(desc, job, scratch)` to the module (and its helper functions): computes job
 * `job` of the descriptor at `desc` (see GEMM_DESC) using the scratch at `scratch`.
 */
export function addGemm(mod: ModuleBuilder, prec: Precision, fma: boolean): void {
  const s = GEMM_SHAPES[prec];
  const E = s.elem;
  const shape = prec === 'f32' ? 'f32x4' : 'f64x2';
  const load: MemOp = prec === 'f32' ? 'f32.load' : 'f64.load';
  const store: MemOp = prec === 'f32' ? 'f32.store' : 'f64.store';
  const splatLoad: MemOp = prec === 'f32' ? 'v128.load32_splat' : 'v128.load64_splat';
  const add: SimdOp = `${shape}.add`;
  const mul: SimdOp = `${shape}.mul`;
  const madd: SimdOp = `${shape}.relaxed_madd`;
  const NV = s.NR / s.lanes;

  const zero = (f: Body) => (prec === 'f32' ? f.f32(0) : f.f64(0));

  // ---- pack(src, lineStride, depthStride, count, depth, dst, width): slivers of `width` lines.
  const pack = (width: number) => {
    const f = new Body(['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
    const [src, ls, ds, count, depth, dst] = [0, 1, 2, 3, 4, 5];
    const line0 = f.local('i32'), p = f.local('i32'), q = f.local('i32'), rem = f.local('i32');
    // Full slivers.
    f.i32(0).set(line0);
    f.block(() => f.loop(() => {
      f.get(line0).i32(width).op('i32.add').get(count).op('i32.gt_s').brIf(1);
      f.get(ls).i32(E).op('i32.eq');
      f.if(() => {
        // Lines adjacent in memory (B row-major, A transposed): whole vectors per depth step.
        f.for(p, () => f.i32(0), () => f.get(depth), 1, () => {
          f.get(src).get(line0).get(ls).op('i32.mul').op('i32.add').get(p).get(ds).op('i32.mul').op('i32.add').set(q);
          for (let v = 0; v < width / s.lanes; v++) {
            f.get(dst).get(q).mem('v128.load', v * 16, 0).mem('v128.store', v * 16, 0);
          }
          f.get(dst).i32(width * E).op('i32.add').set(dst);
        });
      }, () => {
        f.for(p, () => f.i32(0), () => f.get(depth), 1, () => {
          f.get(src).get(line0).get(ls).op('i32.mul').op('i32.add').get(p).get(ds).op('i32.mul').op('i32.add').set(q);
          for (let r = 0; r < width; r++) {
            f.get(dst).get(q).mem(load, 0, 0).mem(store, r * E, 0);
            if (r < width - 1) f.get(q).get(ls).op('i32.add').set(q);
          }
          f.get(dst).i32(width * E).op('i32.add').set(dst);
        });
      });
      f.get(line0).i32(width).op('i32.add').set(line0);
      f.br(0);
    }));
    // The last, partial sliver: zero-padded past `count`.
    f.get(count).get(line0).op('i32.sub').tee(rem).i32(0).op('i32.gt_s');
    f.if(() => {
      f.for(p, () => f.i32(0), () => f.get(depth), 1, () => {
        f.get(src).get(line0).get(ls).op('i32.mul').op('i32.add').get(p).get(ds).op('i32.mul').op('i32.add').set(q);
        for (let r = 0; r < width; r++) {
          f.i32(r).get(rem).op('i32.lt_s');
          f.if(() => {
            f.get(dst).get(q).mem(load, 0, 0).mem(store, r * E, 0);
          }, () => {
            f.get(dst);
            zero(f);
            f.mem(store, r * E, 0);
          });
          f.get(q).get(ls).op('i32.add').set(q);
        }
        f.get(dst).i32(width * E).op('i32.add').set(dst);
      });
    });
    return mod.func(f);
  };
  const packA = pack(s.MR);
  const packB = pack(s.NR);

  // ---- micro(kc, ap, bp, c, ldc, accumulate): C[MR x NR] (+)= A sliver * B sliver.
  const micro = (() => {
    const f = new Body(['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
    const [kc, ap, bp, c, ldc, accumulate] = [0, 1, 2, 3, 4, 5];
    const acc: number[] = [];
    for (let i = 0; i < s.MR * NV; i++) acc.push(f.local('v128'));
    const bv: number[] = [];
    for (let v = 0; v < NV; v++) bv.push(f.local('v128'));
    const av = f.local('v128');
    const p = f.local('i32'), row = f.local('i32');
    zero(f);
    f.simd(`${shape}.splat`).set(acc[0]);
    for (let i = 1; i < acc.length; i++) f.get(acc[0]).set(acc[i]);
    f.for(p, () => f.i32(0), () => f.get(kc), 1, () => {
      for (let v = 0; v < NV; v++) f.get(bp).mem('v128.load', v * 16, 0).set(bv[v]);
      for (let r = 0; r < s.MR; r++) {
        f.get(ap).mem(splatLoad, r * E, 0).set(av);
        for (let v = 0; v < NV; v++) {
          const a = acc[r * NV + v];
          if (fma) f.get(av).get(bv[v]).get(a).simd(madd).set(a);
          else f.get(a).get(av).get(bv[v]).simd(mul).simd(add).set(a);
        }
      }
      f.get(ap).i32(s.MR * E).op('i32.add').set(ap);
      f.get(bp).i32(s.NR * E).op('i32.add').set(bp);
    });
    f.get(c).set(row);
    f.get(accumulate);
    f.if(() => {
      for (let r = 0; r < s.MR; r++) {
        for (let v = 0; v < NV; v++) f.get(row).get(row).mem('v128.load', v * 16, 0).get(acc[r * NV + v]).simd(add).mem('v128.store', v * 16, 0);
        f.get(row).get(ldc).op('i32.add').set(row);
      }
    }, () => {
      for (let r = 0; r < s.MR; r++) {
        for (let v = 0; v < NV; v++) f.get(row).get(acc[r * NV + v]).mem('v128.store', v * 16, 0);
        f.get(row).get(ldc).op('i32.add').set(row);
      }
    });
    return mod.func(f);
  })();

  // ---- macro(mb, nb, kb, ap, bp, c, ldc, accumulate, tile): a packed A block times a packed B block.
  const macro = (() => {
    const f = new Body(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
    const [mb, nb, kb, ap, bp, c, ldc, accumulate, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const jr = f.local('i32'), ir = f.local('i32'), rows = f.local('i32'), cols = f.local('i32');
    const cp = f.local('i32'), i = f.local('i32'), j = f.local('i32'), t = f.local('i32'), o = f.local('i32');
    const minInto = (x: () => void, dst: number, limit: number) => {
      // dst = min(limit, x)
      x();
      f.tee(dst).i32(limit).op('i32.gt_s');
      f.if(() => { f.i32(limit).set(dst); });
    };
    f.for(jr, () => f.i32(0), () => f.get(nb), s.NR, () => {
      minInto(() => f.get(nb).get(jr).op('i32.sub'), cols, s.NR);
      f.for(ir, () => f.i32(0), () => f.get(mb), s.MR, () => {
        minInto(() => f.get(mb).get(ir).op('i32.sub'), rows, s.MR);
        f.get(c).get(ir).get(ldc).op('i32.mul').op('i32.add').get(jr).i32(E).op('i32.mul').op('i32.add').set(cp);
        const apAt = () => f.get(ap).get(ir).get(kb).op('i32.mul').i32(E).op('i32.mul').op('i32.add');
        const bpAt = () => f.get(bp).get(jr).get(kb).op('i32.mul').i32(E).op('i32.mul').op('i32.add');
        f.get(rows).i32(s.MR).op('i32.eq').get(cols).i32(s.NR).op('i32.eq').op('i32.and');
        f.if(() => {
          f.get(kb); apAt(); bpAt(); f.get(cp).get(ldc).get(accumulate).call(micro);
        }, () => {
          // Edge tile: compute the whole (zero-padded) tile into scratch, keep its valid corner.
          f.get(kb); apAt(); bpAt(); f.get(tile).i32(s.NR * E).i32(0).call(micro);
          f.for(i, () => f.i32(0), () => f.get(rows), 1, () => {
            f.for(j, () => f.i32(0), () => f.get(cols), 1, () => {
              f.get(tile).get(i).i32(s.NR).op('i32.mul').get(j).op('i32.add').i32(E).op('i32.mul').op('i32.add').set(t);
              f.get(cp).get(i).get(ldc).op('i32.mul').op('i32.add').get(j).i32(E).op('i32.mul').op('i32.add').set(o);
              f.get(accumulate);
              f.if(() => {
                f.get(o).get(o).mem(load, 0, 0).get(t).mem(load, 0, 0).op(prec === 'f32' ? 'f32.add' : 'f64.add').mem(store, 0, 0);
              }, () => {
                f.get(o).get(t).mem(load, 0, 0).mem(store, 0, 0);
              });
            });
          });
        });
      });
    });
    return mod.func(f);
  })();

  // ---- gemm_<prec>(desc, job, scratch)
  const f = new Body(['i32', 'i32', 'i32'], []);
  const [desc, job, scratch] = [0, 1, 2];
  const D = GEMM_DESC;
  const word = (w: number) => f.get(desc).mem('i32.load', w * 4);
  const m = f.local('i32'), n = f.local('i32'), k = f.local('i32');
  const i0 = f.local('i32'), j0 = f.local('i32'), mb = f.local('i32'), nb = f.local('i32');
  const pc = f.local('i32'), kb = f.local('i32'), ap = f.local('i32'), bp = f.local('i32'), tile = f.local('i32');
  const ldc = f.local('i32'), jobRows = f.local('i32'), jobCols = f.local('i32');
  word(D.m).set(m); word(D.n).set(n); word(D.k).set(k);
  word(D.ldc).set(ldc); word(D.jobRows).set(jobRows); word(D.jobCols).set(jobCols);
  // Job (row band, column band) in row-major order over colJobs columns.
  f.get(job).get(desc).mem('i32.load', D.colJobs * 4).op('i32.div_u').get(jobRows).op('i32.mul').set(i0);
  f.get(job).get(desc).mem('i32.load', D.colJobs * 4).op('i32.rem_u').get(jobCols).op('i32.mul').set(j0);
  f.get(m).get(i0).op('i32.sub').tee(mb).get(jobRows).op('i32.gt_s');
  f.if(() => { f.get(jobRows).set(mb); });
  f.get(n).get(j0).op('i32.sub').tee(nb).get(jobCols).op('i32.gt_s');
  f.if(() => { f.get(jobCols).set(nb); });
  f.get(scratch).set(bp);
  f.get(scratch).i32(s.KC * s.JC * E).op('i32.add').set(ap);
  f.get(ap).i32(s.MC * s.KC * E).op('i32.add').set(tile);
  f.for(pc, () => f.i32(0), () => f.get(k), s.KC, () => {
    f.get(k).get(pc).op('i32.sub').tee(kb).i32(s.KC).op('i32.gt_s');
    f.if(() => { f.i32(s.KC).set(kb); });
    // B block: columns j0.., depth pc..
    word(D.b).get(pc).get(desc).mem('i32.load', D.bDepthStride * 4).op('i32.mul').op('i32.add')
      .get(j0).get(desc).mem('i32.load', D.bColStride * 4).op('i32.mul').op('i32.add');
    word(D.bColStride); word(D.bDepthStride); f.get(nb).get(kb).get(bp).call(packB);
    // A block: rows i0.., depth pc..
    word(D.a).get(i0).get(desc).mem('i32.load', D.aRowStride * 4).op('i32.mul').op('i32.add')
      .get(pc).get(desc).mem('i32.load', D.aDepthStride * 4).op('i32.mul').op('i32.add');
    word(D.aRowStride); word(D.aDepthStride); f.get(mb).get(kb).get(ap).call(packA);
    // The first depth block stores into C, later ones add: C is never read before written.
    f.get(mb).get(nb).get(kb).get(ap).get(bp);
    word(D.c).get(i0).get(ldc).op('i32.mul').op('i32.add').get(j0).i32(E).op('i32.mul').op('i32.add');
    f.get(ldc).get(pc).i32(0).op('i32.ne').get(tile).call(macro);
  });
  mod.func(f, `gemm_${prec}`);
}
