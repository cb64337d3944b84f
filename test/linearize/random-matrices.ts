/** Shared helpers of the float64 linearize tests: a seeded generator, random matrices, distances. */
import { expect } from 'vitest';
import { addScaled, matrix, maxAbs, type Matrix } from '../../linalg/dense.ts';

/** xorshift32 in [-1, 1): cheap, seeded, and shrink-friendly under fast-check. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function randomMatrix(rows: number, cols: number, rand: () => number): Matrix {
  const a = matrix(rows, cols);
  for (let i = 0; i < a.data.length; i++) a.data[i] = rand();
  return a;
}

export function maxDiff(a: Matrix, b: Matrix): number {
  expect([a.rows, a.cols]).toEqual([b.rows, b.cols]);
  return maxAbs(addScaled(a, b, 1, -1));
}
