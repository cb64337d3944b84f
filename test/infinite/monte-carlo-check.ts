/**
 * Test helper: a model's analytic kernels against Monte Carlo over random initializations of the
 * finite network (linearize/monte-carlo.ts), in float64, with an optional power check (a wrong
 * rule's kernel must fall far outside the noise).
 */
import { expect } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { monteCarloKernels, type InitApplyModel } from '../../linearize/monte-carlo.ts';
import type { Matrix } from '../../linalg/dense.ts';
import { Dense, kernelMatrix, serial, type KernelLayer } from '../../models/index.ts';
import { host } from './host-kernel.ts';

/** The affine options of the readouts (and of the tests' bodies). */
export const o = { W_std: 1.3, b_std: 0.3 };

/** Largest |MC mean - analytic| in units of the MC standard error. */
export function maxZ(mean: Matrix, se: Matrix, exact: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < exact.length; i++) z = Math.max(z, Math.abs(mean.data[i] - exact[i]) / se.data[i]);
  return z;
}

/** Monte Carlo NNGP (through a wide readout) and NTK (one output) of a body, against its analytic kernels. */
export function monteCarloAgrees(
  body: (n: number) => KernelLayer[],
  input: Tensor,
  opts: { width: number; samples: number; spatial?: 'full'; wrap?: (net: KernelLayer) => InitApplyModel; wrong?: (n: number) => KernelLayer[] },
): void {
  const { width, samples } = opts;
  const wide = serial(...body(width), Dense(width, o));
  const single = serial(...body(width), Dense(1, o));
  const exactK = host(wide.kernel(input, undefined, { spatial: opts.spatial })).nngp;
  const exactT = host(single.kernel(input, undefined, { spatial: opts.spatial })).ntk!;
  const wrap = opts.wrap ?? ((n: KernelLayer) => n as unknown as InitApplyModel);
  const mcK = monteCarloKernels(wrap(wide), input, undefined, { samples, ntk: false, key: tg.key(7) });
  const mcT = monteCarloKernels(wrap(single), input, undefined, { samples, key: tg.key(8) });
  const zK = maxZ(kernelMatrix(mcK.nngp), kernelMatrix(mcK.nngpStdErr), exactK.data);
  const zT = maxZ(kernelMatrix(mcT.ntk!), kernelMatrix(mcT.ntkStdErr!), exactT.data);
  if (opts.wrong) {
    // The check has power: the kernel of a plausible wrong rule is far outside the noise.
    const wrongT = host(serial(...opts.wrong(width), Dense(1, o)).kernel(input, undefined, { spatial: opts.spatial })).ntk!;
    expect(maxZ(kernelMatrix(mcT.ntk!), kernelMatrix(mcT.ntkStdErr!), wrongT.data)).toBeGreaterThan(8);
  }
  tg.dispose([mcK.nngp, mcK.nngpStdErr, mcT.nngp, mcT.nngpStdErr, mcT.ntk!, mcT.ntkStdErr!]);
  // Over many seeds the largest z of ~15 entries stays below 4.5 (at these widths the O(1/n) bias is well inside the noise).
  expect(zK).toBeLessThan(4.5);
  expect(zT).toBeLessThan(4.5);
}

