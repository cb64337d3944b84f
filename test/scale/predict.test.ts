/**
 * Predictions from stored kernels (scale/predict-stored.ts) against dense float64 references on
 * the whole matrices: t = infinity by a Cholesky solve, finite t by the eigendecomposition
 * (PAPER.md section 4), with and without a ridge; and the `tangentgrad kernel` CLI end to end.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { kernelCommand } from '../../cli/kernel-command.ts';
import { choleskySolve, matrix, matmul, symmetricEigen, fromEigen, addScaled, identity } from '../../linalg/dense.ts';
import { createKernelStore } from '../../scale/create-store.ts';
import { runLocal } from '../../scale/local-runner.ts';
import { readKernelMatrix } from '../../scale/read-kernel.ts';
import { predictStored } from '../../scale/predict-stored.ts';
import { readNpy, writeNpy } from '../../scale/npy.ts';
import type { ModelSpec } from '../../scale/model-spec.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'tg-scale-pred-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SPEC: ModelSpec = [{ layer: 'Dense', out: 32, W_std: 1.5, b_std: 0.2 }, 'Relu', { layer: 'Dense', out: 32, W_std: 1.5, b_std: 0.2 }, 'Relu', { layer: 'Dense', out: 1, W_std: 1.5, b_std: 0.2 }];

function data(n: number, d: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n * d }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function maxRelErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(got[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / (scale || 1);
}

describe('predictions from stored kernels', async () => {
  const n = 29;
  const m = 11;
  const d = 4;
  const k = 2;
  const xTrain = { shape: [n, d], data: data(n, d, 1) };
  const xTest = { shape: [m, d], data: data(m, d, 2) };
  const y = data(n, k, 3);
  const train = path.join(work, 'train.zarr');
  const test = path.join(work, 'test.zarr');
  await createKernelStore(train, { model: SPEC, x1: xTrain, blockSize: 8 });
  await createKernelStore(test, { model: SPEC, x1: xTest, x2: xTrain, blockSize: 8 });
  await runLocal(train, { workers: 0 });
  await runLocal(test, { workers: 0 });

  for (const kernel of ['ntk', 'nngp'] as const) {
    const K = readKernelMatrix(train, kernel);
    const Kx = readKernelMatrix(test, kernel);
    const KM = matrix(n, n, K.data);
    const KxM = matrix(m, n, Kx.data);
    const Y = matrix(n, k, y);

    it(`${kernel}, t = infinity: blocked CG equals the Cholesky solve (with and without a ridge)`, () => {
      for (const ridge of [0, 0.3]) {
        const A = addScaled(KM, identity(n), 1, ridge);
        const coef = choleskySolve(A, Y);
        const refTest = matmul(KxM, coef).data;
        const refTrain = matmul(KM, coef).data;
        const r = predictStored({ train, test, y: { shape: [n, k], data: y }, kernel, ridge });
        expect(r.residual).toBeLessThanOrEqual(1e-10);
        expect(maxRelErr(r.test!, refTest)).toBeLessThan(1e-7);
        expect(maxRelErr(r.train, refTrain)).toBeLessThan(1e-7);
        expect(r.iterations).toBeGreaterThan(0);
      }
    });

    it(`${kernel}, finite t: Lanczos equals the eigendecomposition formula`, () => {
      const { values, vectors } = symmetricEigen(KM);
      for (const [lr, t] of [[0.5, 0.3], [1, 20], [0.1, 1e4]]) {
        const s = lr * t;
        const phi = fromEigen(vectors, Array.from(values, (l) => (l * s === 0 ? s : -Math.expm1(-s * l) / l)));
        const coef = matmul(phi, Y);
        const r = predictStored({ train, test, y: { shape: [n, k], data: y }, kernel, t, lr });
        expect(maxRelErr(r.test!, matmul(KxM, coef).data)).toBeLessThan(1e-7);
        // On the training set: (I - exp(-eta t K)) Y.
        expect(maxRelErr(r.train, matmul(KM, coef).data)).toBeLessThan(1e-7);
      }
    });
  }

  it('bad input names the problem', () => {
    expect(() => predictStored({ train, y: { shape: [n - 1, 1], data: new Float64Array(n - 1) } })).toThrow(/y must be \[29, K\]/);
    expect(() => predictStored({ train, y: { shape: [n, 1], data: new Float64Array(n) }, t: 3 })).toThrow(/finite t needs a learning rate/);
    expect(() => predictStored({ train: test, y: { shape: [m, 1], data: new Float64Array(m) } })).toThrow(/must hold K\(X, X\) of one dataset/);
    expect(() => predictStored({ train, test: train, y: { shape: [n, 1], data: new Float64Array(n) } })).toThrow(/test store .* must hold K\(x, X\)/);
  });

  it('the CLI: init from .npy, run, status, export, predict', async () => {
    const npy = (name: string) => path.join(work, name);
    const rows = (a: Float64Array) => (async function* () {
      yield a;
    })();
    await writeNpy(npy('xtrain.npy'), [n, d], 'float64', rows(xTrain.data));
    await writeNpy(npy('xtest.npy'), [m, d], 'float64', rows(xTest.data));
    await writeNpy(npy('y.npy'), [n, k], 'float64', rows(y));
    // The actions run in this process (the same code the binary runs); one spawn below checks the binary.
    const cli = async (...args: string[]) => {
      const lines: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
      try {
        await kernelCommand(args);
      } finally {
        spy.mockRestore();
      }
      return lines.join('\n');
    };
    const store = path.join(work, 'cli.zarr');
    expect(await cli('init', '--store', store, '--model', JSON.stringify(SPEC), '--x1', npy('xtest.npy'), '--x2', npy('xtrain.npy'), '--block', '8')).toMatch(/analytic nngp \+ ntk \[11 x 29\], blocks of 8: 8 block tasks/);
    expect(await cli('run', '--store', store, '--workers', '0', '--no-progress')).toMatch(/8 blocks computed, 0 already there, of 8/);
    expect(JSON.parse(await cli('status', '--store', store))).toMatchObject({ blocks: 8, done: 8, missing: 0, n1: m, n2: n });
    await cli('export', '--store', store, '--kernel', 'nngp', '--out', npy('knngp.npy'));
    expect(readNpy(npy('knngp.npy')).data).toEqual(readKernelMatrix(test, 'nngp').data);
    await cli('predict', '--train', train, '--test', store, '--y', npy('y.npy'), '--t', '20', '--lr', '1', '--out', npy('pred.npy'));
    const pred = readNpy(npy('pred.npy'));
    expect(pred.shape).toEqual([m, k]);
    expect(maxRelErr(pred.data, predictStored({ train, test, y: { shape: [n, k], data: y }, t: 20, lr: 1 }).test!)).toBe(0);
    await expect(cli('run', '--store', path.join(work, 'nope.zarr'))).rejects.toThrow(/nope.zarr has no zarr.json/);
    await expect(cli('init', '--store', path.join(work, 'x.zarr'), '--model', '["Relu"]', '--x1', npy('xtest.npy'), '--block', '0')).rejects.toThrow(/--block must be an integer in \[1, 16384\]/);
    // The binary: the kernel command is listed and dispatched.
    const bin = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'kernel', 'status', '--store', store], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(bin.stderr).toBe('');
    expect(JSON.parse(bin.stdout)).toMatchObject({ format: 'tangentgrad-kernel-store/1', done: 8 });
  });
});
