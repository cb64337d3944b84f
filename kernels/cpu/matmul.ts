/** Batched matmul on the CPU: broadcast batch axes map to offsets, each batch is one gemm call. */
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import { broadcastStrides, sizeOf, stridesOf } from '../../engine/shape.ts';
import type { CpuKernel } from './elementwise.ts';
import { gemm } from './gemm.ts';
import { allocateOverwritten } from './storage.ts';

export const matmul: CpuKernel = ([a, b], { transposeA, transposeB }: MatmulParams, outShape, dtype) => {
  const r = outShape.length;
  const m = outShape[r - 2];
  const n = outShape[r - 1];
  const k = transposeA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  const batchShape = outShape.slice(0, -2);
  const batches = sizeOf(batchShape);
  const out = allocateOverwritten(dtype, batches * m * n);
  // Batch strides in units of whole matrices; broadcast batch axes get stride 0.
  const aStrides = broadcastStrides(a.shape.slice(0, -2), batchShape);
  const bStrides = broadcastStrides(b.shape.slice(0, -2), batchShape);
  const outStrides = stridesOf(batchShape);
  const aMat = a.shape[a.shape.length - 2] * a.shape[a.shape.length - 1];
  const bMat = b.shape[b.shape.length - 2] * b.shape[b.shape.length - 1];
  for (let i = 0; i < batches; i++) {
    let ai = 0;
    let bi = 0;
    let rest = i;
    for (let d = 0; d < batchShape.length; d++) {
      const idx = Math.floor(rest / outStrides[d]);
      rest -= idx * outStrides[d];
      ai += idx * aStrides[d];
      bi += idx * bStrides[d];
    }
    gemm(m, n, k, a.storage, ai * aMat, transposeA, b.storage, bi * bMat, transposeB, out, i * m * n);
  }
  return out;
};
