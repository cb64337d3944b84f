/**
 * A small end-to-end demo of the engine: a 2-layer tanh MLP fit to a 1-D function by full-batch
 * gradient descent on the CPU, with its gradient checked against central finite differences in
 * float64 before training.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';

type Params = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };

function init(key: tg.Key, width: number, dtype: tg.DType): Params {
  const [k1, k2] = tg.split(key);
  return {
    w1: tg.normal(k1, [1, width], dtype),
    b1: tg.zeros([width], dtype),
    w2: tg.div(tg.normal(k2, [width, 1], dtype), Math.sqrt(width)),
    b2: tg.zeros([1], dtype),
  };
}

const apply = (p: Params, x: Tensor): Tensor => tg.add(tg.matmul(tg.tanh(tg.add(tg.matmul(x, p.w1), p.b1)), p.w2), p.b2);
const loss = (p: Params, x: Tensor, y: Tensor): Tensor => tg.mse(apply(p, x), y, 'mean');

/** Largest relative error between the reverse-mode gradient and central differences along random directions. */
export function gradientCheck(seed = 0): number {
  return tg.tidy(() => {
    const x = tg.reshape(tg.arange(-2, 2, 0.25, 'float64'), [-1, 1]);
    const y = tg.sin(tg.mul(x, 1.5));
    const p = init(tg.key(seed), 16, 'float64');
    const g = tg.grad(loss)(p, x, y) as Params;
    let worst = 0;
    for (let trial = 0; trial < 5; trial++) {
      const dir = tg.treeMap(p, (leaf, i) => tg.normal(tg.foldIn(tg.key(seed + 1), trial * 10 + i), leaf.shape, 'float64')) as Params;
      const h = 1e-6;
      const shifted = (s: number) => loss(tg.treeZip([p, dir], ([a, d]) => tg.add(a, tg.mul(d, s * h))), x, y).itemSync();
      const fd = (shifted(1) - shifted(-1)) / (2 * h);
      const analytic = tg.treeLeaves(g).reduce((acc, gi, i) => acc + tg.sum(tg.mul(gi, tg.treeLeaves(dir)[i])).itemSync(), 0);
      worst = Math.max(worst, Math.abs(fd - analytic) / Math.max(1e-12, Math.abs(fd)));
    }
    return worst;
  });
}

/**
 * The largest eigenvalue of the loss Hessian at `p`, by power iteration on Hessian-vector
 * products (forward-over-reverse: the JVP of the gradient). Gradient descent on a quadratic is
 * stable for lr < 2 / lambda_max, so this sets the demo's learning rate instead of a guess.
 */
export function hessianLambdaMax(p: Params, x: Tensor, y: Tensor, iterations = 30): number {
  const gradFn = tg.grad((q: Params) => loss(q, x, y));
  let v = tg.keep(tg.treeMap(p, (leaf, i) => tg.normal(tg.foldIn(tg.key(7), i), leaf.shape, leaf.dtype)) as Params);
  let lambda = 0;
  for (let i = 0; i < iterations; i++) {
    const next = tg.tidy(() => {
      const hv = tg.jvp(gradFn, [p], [v])[1] as Params;
      const norm = Math.sqrt(tg.treeLeaves(hv).reduce((acc, h) => acc + tg.sum(tg.square(h)).itemSync(), 0));
      const vNorm = Math.sqrt(tg.treeLeaves(v).reduce((acc, h) => acc + tg.sum(tg.square(h)).itemSync(), 0));
      lambda = norm / vNorm;
      return tg.keep(tg.treeMap(hv, (h) => tg.div(h, norm)));
    });
    tg.dispose(v);
    v = next as Params;
  }
  tg.dispose(v);
  return lambda;
}

export interface DemoOptions {
  steps: number;
  /** null: 1 / lambda_max of the loss Hessian at init (half the stable threshold). */
  lr: number | null;
  seed: number;
}

export const DEMO_DEFAULTS: DemoOptions = { steps: 2000, lr: null, seed: 0 };

export async function runDemo(
  options: Partial<DemoOptions> = {},
  log: (line: string) => void = console.log,
): Promise<{ gradientError: number; lr: number; lambdaMax: number; losses: { step: number; loss: number }[] }> {
  const o = { ...DEMO_DEFAULTS, ...options };
  const gradientError = gradientCheck(o.seed);
  log(`gradient check (float64, reverse mode vs central differences): max relative error ${gradientError.toExponential(2)}`);
  if (!(gradientError < 1e-6)) throw new Error(`demo: gradient check failed (relative error ${gradientError})`);
  const x = tg.keep(tg.reshape(tg.arange(-2, 2, 0.05), [-1, 1]));
  const y = tg.keep(tg.sin(tg.mul(x, 1.5)));
  let params = tg.keep(init(tg.key(o.seed), 64, 'float32'));
  const lambdaMax = hessianLambdaMax(params, x, y);
  const lr = o.lr ?? 1 / lambdaMax;
  log(`learning rate ${lr.toPrecision(3)} (the loss Hessian's largest eigenvalue at init is ${lambdaMax.toPrecision(3)}: stable below ${(2 / lambdaMax).toPrecision(3)})`);
  const valueAndGrad = tg.valueAndGrad(loss);
  const losses: { step: number; loss: number }[] = [];
  const every = Math.max(1, Math.round(o.steps / 8));
  for (let step = 0; step <= o.steps; step++) {
    const [value, next] = tg.tidy(() => {
      const [l, g] = valueAndGrad(params, x, y);
      return [l, tg.keep(tg.treeZip([params, g], ([p, gp]) => tg.sub(p, tg.mul(gp, lr))))];
    });
    const v = value.itemSync();
    value.dispose();
    if (step % every === 0 || step === o.steps) {
      losses.push({ step, loss: v });
      log(`step ${String(step).padStart(5)}  loss ${v.toExponential(3)}`);
    }
    if (!Number.isFinite(v)) {
      tg.dispose([params, next as Params, x, y]);
      throw new Error(`demo: the loss became ${v} at step ${step} with learning rate ${lr} (stable below ${(2 / lambdaMax).toPrecision(3)}); use a smaller --lr`);
    }
    tg.dispose(params);
    params = next as Params;
  }
  tg.dispose([params, x, y]);
  return { gradientError, lr, lambdaMax, losses };
}
