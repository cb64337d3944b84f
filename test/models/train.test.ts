/** Losses, optimizers (against PAPER.md section 5 by hand), minibatching, accuracy and the training loop. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import {
  Dense,
  Relu,
  accuracy,
  crossEntropyLoss,
  evaluateLoss,
  gradientDescent,
  minibatchIndices,
  momentum,
  mseLoss,
  serial,
  train,
  type MomentumState,
  type Params,
  type TrainProgress,
} from '../../models/index.ts';

const f64 = (v: number[], shape?: number[]) => tg.tensor(v, shape, 'float64');
const arr = (t: Tensor) => Array.from(t.dataSync());

function expectAllClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i] - b[i]) > tol * Math.max(1, Math.abs(b[i]))) expect.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

describe('losses', () => {
  it('name their scaling and compute tg.mse / tg.softmaxCrossEntropy', () => {
    tg.tidy(() => {
      const p = f64([1, 2, 3, 4], [2, 2]);
      const y = f64([0, 0, 1, 1], [2, 2]);
      expect(mseLoss('sum/2')(p, y).itemSync()).toBe(0.5 * (1 + 4 + 4 + 9));
      expect(mseLoss('mean/2')(p, y).itemSync()).toBe((0.5 * 18) / 4);
      expect(mseLoss('mean')(p, y).itemSync()).toBe(18 / 4);
      expect(mseLoss('sum/2').label).toBe('mse(sum/2)');
      expect(crossEntropyLoss('sum').kind).toBe('softmaxCrossEntropy');
    });
  });

  it('MSE gradient w.r.t. the prediction is (f - y) for sum/2 and (f - y)/(N k) for mean/2', () => {
    tg.tidy(() => {
      const f = tg.normal(tg.key(1), [3, 2], 'float64');
      const y = tg.normal(tg.key(2), [3, 2], 'float64');
      const diff = arr(tg.sub(f, y));
      expectAllClose(arr(tg.grad((z: Tensor) => mseLoss('sum/2')(z, y))(f)), diff, 1e-15, 'sum/2');
      expectAllClose(arr(tg.grad((z: Tensor) => mseLoss('mean/2')(z, y))(f)), diff.map((d) => d / 6), 1e-15, 'mean/2');
    });
  });

  it('cross-entropy gradient w.r.t. the logits is softmax - onehot, divided by N for the mean', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 6 }), (seed, n, k) =>
        tg.tidy(() => {
          const logits = tg.mul(tg.normal(tg.key(seed), [n, k], 'float64'), 3);
          const onehot = f64(Array.from({ length: n * k }, (_, i) => +(i % k === (Math.floor(i / k) + seed) % k)), [n, k]);
          const residual = arr(tg.sub(tg.softmax(logits), onehot));
          const gSum = tg.grad((z: Tensor) => crossEntropyLoss('sum')(z, onehot))(logits);
          const gMean = tg.grad((z: Tensor) => crossEntropyLoss('mean')(z, onehot))(logits);
          expectAllClose(arr(gSum), residual, 1e-13, 'sum');
          expectAllClose(arr(gMean), residual.map((r) => r / n), 1e-13, 'mean');
        }),
      ),
      { numRuns: 25 },
    );
  });
});

describe('optimizers', () => {
  it('gradient descent: theta - eta * grad, over a tree with null leaves', () => {
    tg.tidy(() => {
      const params = [{ W: f64([1, 2, 3], [3]) }, null, { W: f64([-1], [1]), b: f64([0.5]) }] as Params;
      const grads = [{ W: f64([0.1, -0.2, 0.3], [3]) }, null, { W: f64([2], [1]), b: f64([-4]) }] as Params;
      const { params: next, state } = gradientDescent(0.5).update(params, grads, null);
      expect(state).toBeNull();
      const leaves = tg.treeLeaves(next).map(arr);
      // Leaves in tree order: [0].W, then [2].W and [2].b (object keys sorted).
      expect(leaves).toEqual([[1 - 0.05, 2 + 0.1, 3 - 0.15], [-1 - 1], [0.5 + 2]]);
      expect((next as Params[])[1]).toBeNull();
    });
  });

  it('heavy-ball momentum equals theta_{i+1} = theta_i - eta g_i + beta (theta_i - theta_{i-1}), computed by hand', () => {
    tg.tidy(() => {
      const eta = 0.3;
      const beta = 0.9;
      // A quadratic with a known gradient: L = 1/2 sum a theta^2, g = a theta.
      const a = [2, 0.5, -1];
      const grad = (theta: number[]) => theta.map((t, i) => a[i] * t);
      const opt = momentum(eta, beta);
      let params: Params = { w: f64([1, -2, 0.5]) };
      let state: MomentumState = opt.init(params);
      expect(arr((state.velocity as { w: Tensor }).w)).toEqual([0, 0, 0]);
      const byHand: number[][] = [[1, -2, 0.5]];
      let prev = byHand[0]; // theta_{-1} = theta_0
      for (let i = 0; i < 4; i++) {
        const theta = byHand[i];
        const g = grad(theta);
        byHand.push(theta.map((t, j) => t - eta * g[j] + beta * (t - prev[j])));
        prev = theta;
        const gt = { w: f64(grad(arr((params as { w: Tensor }).w))) };
        ({ params, state } = opt.update(params, gt, state));
        expectAllClose(arr((params as { w: Tensor }).w), byHand[i + 1], 1e-14, `step ${i + 1}`);
        // The state is the last displacement theta_{i+1} - theta_i.
        expectAllClose(arr((state.velocity as { w: Tensor }).w), byHand[i + 1].map((t, j) => t - theta[j]), 1e-13, `velocity ${i + 1}`);
      }
    });
  });

  it('reject bad hyper-parameters and mismatched trees', () => {
    expect(() => gradientDescent(0)).toThrow(/gradientDescent: learning rate .* got 0/);
    expect(() => momentum(0.1, 1)).toThrow(/momentum: beta must be in \[0, 1\), got 1/);
    tg.tidy(() => {
      const p = { w: f64([1, 2]) };
      expect(() => gradientDescent(0.1).update(p, { w: f64([1, 2, 3]) }, null)).toThrow(/gradientDescent: the gradient leaf 0 is \[3\] but the parameter is \[2\]/);
      expect(() => momentum(0.1, 0.5).update(p, { w: f64([1, 2]) }, null as unknown as MomentumState)).toThrow(/momentum: state must be/);
    });
  });
});

describe('minibatches', () => {
  it('every epoch visits every example exactly once; batches are full, sorted and deterministic', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), (seed, n, bRaw) => {
        const b = Math.min(bRaw, n);
        const key = tg.key(seed);
        // n steps of b examples are exactly b epochs, whatever the alignment of batches and
        // epochs, so every example must appear exactly b times.
        const counts = new Array(n).fill(0);
        for (let s = 0; s < n; s++) {
          const idx = minibatchIndices(key, n, b, s);
          expect(idx.length).toBe(b);
          expect([...idx].sort((p, q) => p - q)).toEqual(idx);
          expect(minibatchIndices(key, n, b, s)).toEqual(idx);
          for (const i of idx) counts[i]++;
        }
        expect(counts.every((c) => c === b)).toBe(true);
      }),
      { numRuns: 60 },
    );
    // Different keys shuffle differently.
    expect(minibatchIndices(tg.key(1), 100, 10, 0)).not.toEqual(minibatchIndices(tg.key(2), 100, 10, 0));
  });

  it('epoch e is a permutation when batches align with epochs', () => {
    const n = 12;
    const b = 4;
    const seen = [0, 1, 2].flatMap((s) => minibatchIndices(tg.key(5), n, b, s));
    expect([...seen].sort((p, q) => p - q)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('a minibatch step is a gradient step on the rows minibatchIndices picks', async () => {
    const layer = Dense(2, { parameterization: 'standard' });
    const { x, y, params } = tg.tidy(() => ({
      x: tg.normal(tg.key(1), [11, 3], 'float64'),
      y: tg.normal(tg.key(2), [11, 2], 'float64'),
      params: layer.init(tg.key(3), [-1, 3], 'float64').params,
    }));
    const eta = 0.05;
    for (const step of [0, 1, 2]) {
      const r = await train({ apply: layer.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(eta), data: { x, y }, steps: step + 1, batchSize: 4, key: tg.key(9) });
      // Replay the same steps with the batches built by hand on the host.
      let p = params;
      for (let s = 0; s <= step; s++) {
        const idx = minibatchIndices(tg.key(9), 11, 4, s);
        const rows = (t: Tensor) => tg.tensor(Float64Array.from(idx.flatMap((i) => arr(t).slice(i * t.shape[1], (i + 1) * t.shape[1]))), [idx.length, t.shape[1]], 'float64');
        const next = tg.tidy(() => {
          const g = tg.grad((q: Params) => mseLoss('sum/2')(layer.apply(q, rows(x)), rows(y)))(p) as Params;
          return gradientDescent(eta).update(p, g, undefined as never).params;
        });
        if (p !== params) tg.dispose(p);
        p = next;
      }
      for (const k of Object.keys(p as object)) expectAllClose(arr((r.params as Record<string, Tensor>)[k]), arr((p as Record<string, Tensor>)[k]), 1e-13, `${k} after ${step + 1} steps`);
      tg.dispose([r.params, r.optState, p]);
    }
    tg.dispose([x, y, params]);
  });
});

describe('accuracy', () => {
  it('counts argmax agreements for [N, K] targets and sign agreements for +-1 targets', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (n, k, seed) => tg.tidy(() => {
      const pred = tg.normal(tg.key(seed), [n, k], 'float64');
      const labels = Array.from(tg.uniform(tg.foldIn(tg.key(seed), 1), [n], 'float64').dataSync(), (u) => Math.floor(u * k));
      const targets = tg.oneHot(tg.tensor(Int32Array.from(labels)), k, 'float64');
      const p = pred.arraySync() as number[][];
      const predicted = p.map((row) => row.indexOf(Math.max(...row)));
      const want = k > 1
        ? predicted.filter((c, i) => c === labels[i]).length / n
        : p.filter((row) => row[0] > 0).length / n; // K = 1: every one-hot target is +1
      expect(accuracy(pred, targets).itemSync()).toBeCloseTo(want, 14);
      const pm1 = tg.sub(tg.mul(targets, 2), 1);
      expect(accuracy(tg.reshape(tg.slice(pred, [0, 0], [n, 1]), [n]), tg.reshape(tg.slice(pm1, [0, 0], [n, 1]), [n])).itemSync())
        .toBeCloseTo(p.filter((row, i) => (row[0] > 0) === (labels[i] === 0)).length / n, 14);
    })), { numRuns: 30 });
  });

  it('refuses mismatched shapes by name', () => {
    tg.tidy(() => {
      expect(() => accuracy(tg.zeros([3, 2]), tg.zeros([3, 3]))).toThrow(/accuracy: prediction \[3,2\] and target \[3,3\] must both be \[N, K\] or \[N\]/);
    });
  });
});

describe('train', () => {
  const setup = () => {
    const net = serial(Dense(8, { W_std: Math.SQRT2, b_std: 0.1 }), Relu(), Dense(2, { W_std: 1, b_std: 0.1 }));
    const x = tg.normal(tg.key(10), [20, 3], 'float64');
    const y = tg.tanh(tg.matmul(x, tg.normal(tg.key(11), [3, 2], 'float64')));
    const { params } = net.init(tg.key(0), [-1, 3], 'float64');
    return { net, data: { x, y }, params };
  };

  it('one full-batch GD step on a linear model equals W - eta X^T (X W - Y) (loss sum/2)', async () => {
    const layer = Dense(2, { parameterization: 'standard' });
    const { x, y, W0, params } = tg.tidy(() => {
      const x = tg.normal(tg.key(1), [5, 3], 'float64');
      const y = tg.normal(tg.key(2), [5, 2], 'float64');
      const params = layer.init(tg.key(3), [-1, 3], 'float64').params;
      return { x, y, params, W0: (params as { W: Tensor }).W };
    });
    const eta = 0.05;
    const r = await train({ apply: layer.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(eta), data: { x, y }, steps: 1 });
    const expected = tg.tidy(() => tg.sub(W0, tg.mul(tg.matmul(x, tg.sub(tg.matmul(x, W0), y), { transposeA: true }), eta)));
    expectAllClose(arr((r.params as { W: Tensor }).W), arr(expected), 1e-14, 'W1');
    expect(r.history).toHaveLength(1);
    expect(r.history[0].loss).toBeCloseTo(evaluateLoss(layer.apply, params, mseLoss('sum/2'), { x, y }).itemSync(), 12);
    tg.dispose([x, y, params, expected, r.params]);
  });

  it('keeps memory flat: live tensors after = before + the returned params (minibatch, momentum)', async () => {
    const { net, data, params } = tg.tidy(setup);
    const before = tg.liveTensorCount();
    const r = await train({
      apply: net.apply, params, loss: mseLoss('mean/2'), optimizer: momentum(0.1, 0.9), data, steps: 25, batchSize: 6, key: tg.key(4), evalEvery: 5,
    });
    const returned = tg.treeLeaves(r.params).length + tg.treeLeaves(r.optState).length;
    expect(tg.liveTensorCount()).toBe(before + returned);
    tg.dispose([r.params, r.optState]);
    expect(tg.liveTensorCount()).toBe(before);
    // The caller's initial params were neither modified nor freed.
    expect(tg.treeLeaves(params).every((t) => !t.isDisposed)).toBe(true);
    tg.dispose([params, data]);
  });

  it('reports every evalEvery steps and the last one, awaiting async callbacks; loss decreases', async () => {
    const { net, data, params } = tg.tidy(setup);
    const seen: TrainProgress[] = [];
    const r = await train({
      apply: net.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(0.02), data, steps: 11, evalEvery: 3,
      onProgress: async (p) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(p);
      },
    });
    expect(seen.map((p) => p.step)).toEqual([0, 3, 6, 9, 10]);
    expect(seen.every((p) => p.steps === 11 && p.epoch === 0)).toBe(true);
    expect(r.history.map((h) => h.loss)).toEqual(seen.map((p) => p.loss));
    for (let i = 1; i < seen.length; i++) expect(seen[i].loss).toBeLessThan(seen[i - 1].loss);
    tg.dispose([r.params, params, data]);
  });

  it('is deterministic for a key, and resuming from optState continues the same full-batch trajectory', async () => {
    const { net, data, params } = tg.tidy(setup);
    const common = { apply: net.apply, loss: mseLoss('sum/2'), optimizer: momentum(0.01, 0.9), data };
    const a = await train({ ...common, params, steps: 6, batchSize: 5, key: tg.key(7) });
    const b = await train({ ...common, params, steps: 6, batchSize: 5, key: tg.key(7) });
    expect(tg.treeLeaves(a.params).map(arr)).toEqual(tg.treeLeaves(b.params).map(arr));
    const whole = await train({ ...common, params, steps: 6 });
    const first = await train({ ...common, params, steps: 3 });
    const second = await train({ ...common, params: first.params, optState: first.optState, steps: 3 });
    tg.treeLeaves(whole.params).forEach((t, i) => expectAllClose(arr(tg.treeLeaves(second.params)[i]), arr(t), 1e-13, `leaf ${i}`));
    // The caller-owned optState passed in for resuming survives.
    expect(tg.treeLeaves(first.optState).every((t) => !t.isDisposed)).toBe(true);
    tg.dispose([a, b, whole, first, second, params, data]);
  });

  it('frees what it made when the callback throws', async () => {
    const { net, data, params } = tg.tidy(setup);
    const before = tg.liveTensorCount();
    await expect(
      train({
        apply: net.apply, params, loss: mseLoss('sum/2'), optimizer: momentum(0.01, 0.5), data, steps: 5,
        onProgress: ({ step }) => {
          if (step === 2) throw new Error('stop here');
        },
      }),
    ).rejects.toThrow('stop here');
    expect(tg.liveTensorCount()).toBe(before);
    tg.dispose([params, data]);
  });

  it('rejects bad options with messages naming them', async () => {
    const { net, data, params } = tg.tidy(setup);
    const base = { apply: net.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(0.1), data, steps: 1 };
    await expect(train({ ...base, data: { x: data.x, y: tg.slice(data.y, [0, 0], [19, 2]) } })).rejects.toThrow(/train: x \[20,3\] and y \[19,2\] must have the same number of examples/);
    await expect(train({ ...base, steps: -1 })).rejects.toThrow(/train: steps must be a non-negative integer, got -1/);
    await expect(train({ ...base, batchSize: 0 })).rejects.toThrow(/train: batchSize must be a positive integer, got 0/);
    await expect(train({ ...base, evalEvery: 1.5 })).rejects.toThrow(/train: evalEvery must be a positive integer/);
    await expect(train({ ...base, stepz: 3 } as typeof base)).rejects.toThrow(/train: unknown option 'stepz'/);
    await expect(train({ ...base, loss: mseLoss('sum/2'), data: { x: data.x, y: tg.slice(data.y, [0, 0], [20, 1]) } })).rejects.toThrow(/mse: prediction \[20,2\] and target \[20,1\] differ/);
    tg.dispose([params, data]);
  });
});
