/**
 * The patch gather of a convolution (im2col) in WebAssembly, so that the patch matrix is built by
 * every thread straight into the kernels' memory, where the GEMM then reads it in place: the
 * JavaScript gather (kernels/cpu/conv.ts) ran at ~2.5 ns per element on one thread and took more
 * time than the product itself, and its result had to be copied into this memory afterwards.
 *
 * The kernel works in bytes (a pixel is C elements of either precision), so one function serves
 * float32 and float64. Row r of the patch matrix is output pixel (n, oh, ow); its columns are the
 * kernel taps (kr, kc) in order, C elements each. Tap tables (from kernels/cpu/conv.ts fillTaps)
 * give the source row / column of every (output, tap), or -1 for padding, and `wRun[ow]` = 1
 * when the KW taps of output column ow read KW adjacent, valid input columns: then one kernel row
 * is one contiguous run of KW * C elements, copied as a whole.
 */
import { Body, type ModuleBuilder } from './emitter.ts';

/** Words of an im2col job descriptor (i32). Addresses and pixel sizes are in bytes. */
export const IM2COL_DESC = {
  x: 0, H: 1, W: 2, pix: 3, OH: 4, OW: 5, KH: 6, KW: 7,
  hTaps: 8, wTaps: 9, wRun: 10, patch: 11,
  /** The global index of the first patch row this batch builds, and how many rows it builds. */
  row0: 12, rows: 13, rowsPerJob: 14,
  words: 15,
} as const;

/**
 * Emits `dst[0 .. len) = src[0 .. len)` (or zeros when `src` is null), in 16-byte vectors then
 * 4-byte words; `len` is a multiple of 4 (pixels are whole float32 or float64 elements). Advances
 * `dst` (and `src`) past the run.
 */
function emitCopy(f: Body, dst: number, src: number | null, len: number, end: number): void {
  f.get(dst).get(len).op('i32.add').set(end);
  f.block(() => f.loop(() => {
    f.get(end).get(dst).op('i32.sub').i32(16).op('i32.lt_s').brIf(1);
    f.get(dst);
    if (src === null) f.i32(0).simd('i32x4.splat');
    else f.get(src).mem('v128.load', 0, 0);
    f.mem('v128.store', 0, 0);
    f.get(dst).i32(16).op('i32.add').set(dst);
    if (src !== null) f.get(src).i32(16).op('i32.add').set(src);
    f.br(0);
  }));
  f.block(() => f.loop(() => {
    f.get(dst).get(end).op('i32.ge_u').brIf(1);
    f.get(dst);
    if (src === null) f.i32(0);
    else f.get(src).mem('i32.load', 0, 0);
    f.mem('i32.store', 0, 0);
    f.get(dst).i32(4).op('i32.add').set(dst);
    if (src !== null) f.get(src).i32(4).op('i32.add').set(src);
    f.br(0);
  }));
}

/** Adds `im2col(desc, job, scratch)`: builds rows [job * rowsPerJob, ...) of the batch in IM2COL_DESC. */
export function addIm2col(mod: ModuleBuilder): void {
  const f = new Body(['i32', 'i32', 'i32'], []);
  const [desc, job] = [0, 1];
  const D = IM2COL_DESC;
  const L = () => f.local('i32');
  const [x, W, pix, OH, OW, KH, KW, hTaps, wTaps, wRun] = [L(), L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const [r, rEnd, o, ow, oh, t, xn, kr, kc, ih, iw, hRow, wRow, src, len, end, rowBytes, imgBytes] =
    [L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const word = (w: number) => f.get(desc).mem('i32.load', w * 4);
  word(D.x).set(x); word(D.W).set(W); word(D.pix).set(pix); word(D.OH).set(OH); word(D.OW).set(OW);
  word(D.KH).set(KH); word(D.KW).set(KW); word(D.hTaps).set(hTaps); word(D.wTaps).set(wTaps); word(D.wRun).set(wRun);
  f.get(W).get(pix).op('i32.mul').set(rowBytes);
  word(D.H).get(rowBytes).op('i32.mul').set(imgBytes);
  // This job's rows, local to the batch: [job * rowsPerJob, min(rows, (job + 1) * rowsPerJob)).
  f.get(job).get(desc).mem('i32.load', D.rowsPerJob * 4).op('i32.mul').set(r);
  f.get(r).get(desc).mem('i32.load', D.rowsPerJob * 4).op('i32.add').set(rEnd);
  word(D.rows).get(rEnd).op('i32.lt_s');
  f.if(() => { word(D.rows).set(rEnd); });
  // o = patch + r * KH * KW * pix
  word(D.patch).get(r).get(KH).op('i32.mul').get(KW).op('i32.mul').get(pix).op('i32.mul').op('i32.add').set(o);
  f.block(() => f.loop(() => {
    f.get(r).get(rEnd).op('i32.ge_s').brIf(1);
    // Global row g = row0 + r = (n * OH + oh) * OW + ow.
    word(D.row0).get(r).op('i32.add').tee(t).get(OW).op('i32.rem_u').set(ow);
    f.get(t).get(OW).op('i32.div_u').tee(t).get(OH).op('i32.rem_u').set(oh);
    f.get(x).get(t).get(OH).op('i32.div_u').get(imgBytes).op('i32.mul').op('i32.add').set(xn);
    f.get(hTaps).get(oh).get(KH).op('i32.mul').i32(4).op('i32.mul').op('i32.add').set(hRow);
    f.get(wTaps).get(ow).get(KW).op('i32.mul').i32(4).op('i32.mul').op('i32.add').set(wRow);
    f.for(kr, () => f.i32(0), () => f.get(KH), 1, () => {
      f.get(hRow).get(kr).i32(4).op('i32.mul').op('i32.add').mem('i32.load', 0).tee(ih).i32(0).op('i32.lt_s');
      f.if(() => {
        // The whole kernel row reads padding.
        f.get(KW).get(pix).op('i32.mul').set(len);
        emitCopy(f, o, null, len, end);
      }, () => {
        f.get(wRun).get(ow).i32(4).op('i32.mul').op('i32.add').mem('i32.load', 0);
        f.if(() => {
          f.get(xn).get(ih).get(rowBytes).op('i32.mul').op('i32.add')
            .get(wRow).mem('i32.load', 0).get(pix).op('i32.mul').op('i32.add').set(src);
          f.get(KW).get(pix).op('i32.mul').set(len);
          emitCopy(f, o, src, len, end);
        }, () => {
          f.for(kc, () => f.i32(0), () => f.get(KW), 1, () => {
            f.get(wRow).get(kc).i32(4).op('i32.mul').op('i32.add').mem('i32.load', 0).tee(iw).i32(0).op('i32.lt_s');
            f.if(() => {
              emitCopy(f, o, null, pix, end);
            }, () => {
              f.get(xn).get(ih).get(rowBytes).op('i32.mul').op('i32.add').get(iw).get(pix).op('i32.mul').op('i32.add').set(src);
              emitCopy(f, o, src, pix, end);
            });
          });
        });
      });
    });
    f.get(r).i32(1).op('i32.add').set(r);
    f.br(0);
  }));
  mod.func(f, 'im2col');
}
