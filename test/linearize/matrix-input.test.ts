/**
 * mseFlow and the predictors accept Tensors (and Float32Array columns) as well as float64
 * matrices: one conversion at the boundary (linearize/matrix-input.ts), so results from tensors
 * equal the results from the same values given as matrices, and bad shapes name the argument.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { mseFlow } from '../../linearize/flow.ts';
import { integrateFunctionSpace, mseOutputGradient } from '../../linearize/function-space.ts';
import { gpOverInitializations, nngpPosterior } from '../../linearize/gp.ts';
import { matmul, matrix, transpose, type Matrix } from '../../linalg/dense.ts';
import { matrixFromTensor, toMatrix } from '../../linearize/matrix-input.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { Dense, Relu, serial } from '../../models/index.ts';

/** A seeded random matrix (float64 values representable in float32, so both dtypes carry the same numbers). */
function randomMatrix(seed: number, rows: number, cols: number): Matrix {
  const t = tg.tidy(() => tg.cast(tg.cast(tg.normal(tg.key(seed), [rows, cols], 'float64'), 'float32'), 'float64'));
  const m = matrix(rows, cols, t.dataSync());
  t.dispose();
  return m;
}

/** A PSD kernel J J^T + ridge (well conditioned), rounded to float32 values (still symmetric). */
function kernel(seed: number, n: number): Matrix {
  const j = randomMatrix(seed, n, n + 2);
  const k = matmul(j, transpose(j));
  for (let i = 0; i < n; i++) k.data[i * n + i] += 0.5;
  return { ...k, data: k.data.map(Math.fround) };
}

const asTensor = (m: Matrix, dtype: 'float32' | 'float64' = 'float64') => tg.tensor(m.data, [m.rows, m.cols], dtype);
const same = (a: Matrix, b: Matrix) => a.rows === b.rows && a.cols === b.cols && a.data.every((v, i) => Object.is(v, b.data[i]));

describe('toMatrix', () => {
  it('law: a rank-2 tensor becomes the matrix of its values, a rank-1 tensor or a typed array a column', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), (seed, rows, cols) => {
        const m = randomMatrix(seed, rows, cols);
        for (const dtype of ['float32', 'float64'] as const) {
          const t = asTensor(m, dtype);
          expect(same(toMatrix('f', 'x', t), m)).toBe(true);
          t.dispose();
        }
        const column = tg.tensor(m.data, [m.data.length], 'float64');
        expect(same(toMatrix('f', 'x', column), matrix(m.data.length, 1, m.data))).toBe(true);
        column.dispose();
        expect(same(toMatrix('f', 'x', Float32Array.from(m.data)), matrix(m.data.length, 1, m.data))).toBe(true);
        // A Float64Array column shares its storage; a Matrix passes through.
        expect(toMatrix('f', 'x', m.data).data).toBe(m.data);
        expect(toMatrix('f', 'x', m)).toBe(m);
      }),
      { numRuns: 25 },
    );
  });

  it('a tensor copies its values: later writes to the matrix do not reach the tensor', () => {
    const t = tg.tensor([1, 2, 3, 4], [2, 2], 'float64');
    toMatrix('f', 'x', t).data[0] = 99;
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4]);
    t.dispose();
  });

  it('matrixFromTensor (the async read, for WebGPU tensors) agrees with toMatrix', async () => {
    const m = randomMatrix(3, 4, 3);
    const t = asTensor(m, 'float32');
    expect(same(await matrixFromTensor(t), toMatrix('f', 'x', t))).toBe(true);
    t.dispose();
  });

  it('bad arguments are named, never "undefinedx1"', () => {
    const cube = tg.zeros([2, 2, 2]);
    expect(() => toMatrix('mseFlow', 'f0Train', cube)).toThrow('mseFlow: f0Train must be a rank-2 tensor [rows, cols] or a rank-1 column, got float32[2,2,2]');
    expect(() => toMatrix('mseFlow', 'f0Train', tg.scalar(1))).toThrow(/mseFlow: f0Train must be a rank-2 tensor .* got float32\[\]/);
    expect(() => toMatrix('mseFlow', 'yTrain', [1, 2] as never)).toThrow(
      'mseFlow: yTrain must be a Matrix { rows, cols, data: Float64Array }, a Tensor or a Float64Array/Float32Array column, got an array of length 2',
    );
    expect(() => toMatrix('mseFlow', 'yTrain', { data: new Float64Array(2) } as never)).toThrow(/mseFlow: yTrain must be a Matrix .* got an object with keys \{data\}/);
    expect(() => toMatrix('mseFlow', 'thetaTrain', { rows: 2, cols: 2, data: new Float64Array(3) })).toThrow('mseFlow: thetaTrain is a 2x2 matrix with 3 entries (needs 4)');
    cube.dispose();
  });
});

describe('mseFlow and the predictors take tensors', () => {
  it('law: mseFlow from tensors and Float32Array columns equals mseFlow from the same matrices', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), (seed, n, m) => {
        const theta = kernel(seed, n);
        const thetaX = randomMatrix(seed + 1, m, n);
        const f0 = randomMatrix(seed + 2, n, 1);
        const f0x = randomMatrix(seed + 3, m, 1);
        const y = randomMatrix(seed + 4, n, 1);
        const ref = mseFlow({ thetaTrain: theta, thetaTestTrain: thetaX, f0Train: f0, f0Test: f0x, yTrain: y, eta: 0.1, loss: 'sum/2' });
        const tensors = [theta, thetaX, f0, f0x, y].map((a) => asTensor(a, 'float32'));
        const [tt, ttx, tf0, tf0x, ty] = tensors;
        const viaTensors = mseFlow({ thetaTrain: tt, thetaTestTrain: ttx, f0Train: tf0, f0Test: tf0x, yTrain: ty, eta: 0.1, loss: 'sum/2' });
        const viaF32 = mseFlow({ thetaTrain: theta, thetaTestTrain: thetaX, f0Train: Float32Array.from(f0.data), f0Test: f0x, yTrain: Float32Array.from(y.data), eta: 0.1, loss: 'sum/2' });
        const times = [0, 3, Infinity];
        for (const flow of [viaTensors, viaF32]) {
          flow.trainAt(times).forEach((a, i) => expect(same(a, ref.trainAt(times)[i])).toBe(true));
          flow.testAt(times).forEach((a, i) => expect(same(a, ref.testAt(times)[i])).toBe(true));
        }
        tg.dispose(tensors);
      }),
      { numRuns: 20 },
    );
  });

  it('mseFlow straight from empiricalNtk and net.apply (the README flow), with a shape mismatch named', () => {
    const net = serial(Dense(16), Relu(), Dense(1));
    const { params } = net.init(tg.key(0), [-1, 3]);
    const x = tg.normal(tg.key(1), [5, 3]);
    const xTest = tg.normal(tg.key(2), [2, 3]);
    const y = tg.normal(tg.key(3), [5, 1]);
    const theta = empiricalNtk(net.apply, params, x, x);
    const thetaX = empiricalNtk(net.apply, params, xTest, x);
    const f0 = net.apply(params, x);
    const f0x = net.apply(params, xTest);
    const flow = mseFlow({ thetaTrain: theta, thetaTestTrain: thetaX, f0Train: f0, f0Test: f0x, yTrain: y, eta: 0.5, loss: 'sum/2', singular: 'pinv' });
    const [atInf] = flow.trainAt([Infinity]);
    // Trained to convergence the linearized model fits the targets (float32 kernel).
    const yHost = y.dataSync();
    atInf.data.forEach((v, i) => expect(v).toBeCloseTo(yHost[i], 3));
    const wrong = tg.zeros([4, 1]);
    expect(() => mseFlow({ thetaTrain: theta, f0Train: wrong, yTrain: y, eta: 0.5, loss: 'sum/2' })).toThrow('mseFlow: f0Train must be 5x1, got 4x1');
    expect(() => mseFlow({ thetaTrain: thetaX, f0Train: f0, yTrain: y, eta: 0.5, loss: 'sum/2' })).toThrow('mseFlow: thetaTrain must be square, got 2x5');
    tg.dispose([x, xTest, y, theta, thetaX, f0, f0x, wrong, params]);
  });

  it('gpOverInitializations, nngpPosterior and integrateFunctionSpace give the same results from tensors', () => {
    const n = 4;
    const m = 3;
    const joint = kernel(11, n + m);
    const sub = (r0: number, r1: number, c0: number, c1: number) => {
      const out = matrix(r1 - r0, c1 - c0);
      for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) out.data[(i - r0) * (c1 - c0) + j - c0] = joint.data[i * (n + m) + j];
      return out;
    };
    const k = { kTrainTrain: sub(0, n, 0, n), kTestTrain: sub(n, n + m, 0, n), kTestTest: sub(n, n + m, n, n + m) };
    const y = randomMatrix(12, n, 2);
    const t = { kTrainTrain: asTensor(k.kTrainTrain), kTestTrain: asTensor(k.kTestTrain), kTestTest: asTensor(k.kTestTest) };
    const ty = asTensor(y);
    const gpRef = gpOverInitializations({ ...k, thetaTrainTrain: k.kTrainTrain, thetaTestTrain: k.kTestTrain, yTrain: y, eta: 0.1, loss: 'sum/2' }).at([2, Infinity]);
    const gpT = gpOverInitializations({ ...t, thetaTrainTrain: t.kTrainTrain, thetaTestTrain: t.kTestTrain, yTrain: ty, eta: 0.1, loss: 'sum/2' }).at([2, Infinity]);
    gpT.forEach((p, i) => {
      expect(same(p.mean, gpRef[i].mean)).toBe(true);
      expect(same(p.covariance, gpRef[i].covariance)).toBe(true);
    });
    const postRef = nngpPosterior({ ...k, yTrain: y });
    const postT = nngpPosterior({ ...t, yTrain: ty });
    expect(same(postT.mean, postRef.mean) && same(postT.covariance, postRef.covariance)).toBe(true);
    const f0 = randomMatrix(13, n, 2);
    const tf0 = asTensor(f0);
    const odeRef = integrateFunctionSpace({ thetaTrain: k.kTrainTrain, f0Train: f0, eta: 0.1, gradient: mseOutputGradient(y, 'sum/2') }, [1, 5]);
    const odeT = integrateFunctionSpace({ thetaTrain: t.kTrainTrain, f0Train: tf0, eta: 0.1, gradient: mseOutputGradient(ty, 'sum/2') }, [1, 5]);
    odeT.train.forEach((a, i) => expect(same(a, odeRef.train[i])).toBe(true));
    tg.dispose([t.kTrainTrain, t.kTestTrain, t.kTestTest, ty, tf0]);
  });
});
