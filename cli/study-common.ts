/**
 * The browser-safe pieces of the study shared by the CLI (cli/study.ts, the figure suite) and the
 * page (app/compute/study.ts): recorded steps, loss and distance measures, the weights followed
 * and their closed form, leaf names. Nothing here reads files or starts processes.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Linearization } from '../linearize/linearize.ts';
import { empiricalNtk } from '../linearize/ntk.ts';
import type { Matrix } from '../linalg/dense.ts';
import type { Params } from '../models/index.ts';

/** Step indices 0, 1, 2, ... spaced logarithmically up to `steps` (for log-time plots). */
export function recordSteps(steps: number, count = 40): number[] {
  const out = new Set<number>([0, steps]);
  for (let i = 0; i < count; i++) out.add(Math.round(Math.pow(steps, i / (count - 1))));
  return [...out].filter((s) => s <= steps).sort((a, b) => a - b);
}

/** Mean and standard deviation of all entries. */
export function moments(x: Float32Array): [number, number] {
  let mean = 0;
  for (const v of x) mean += v / x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2 / x.length;
  return [mean, Math.sqrt(variance)];
}

/** 0.5 * mean((f - y)^2). */
export function halfMse(f: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (f[i] - y[i]) ** 2;
  return (0.5 * s) / y.length;
}

/** sqrt(mean((a - b)^2)). */
export function rmse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

/** ||t||_F, read back. */
export async function frobenius(t: Tensor): Promise<number> {
  return Math.sqrt(await tg.tidy(() => tg.sum(tg.square(t))).item());
}

/** Individual weights to follow: the first entry of the first and of the last weight (rank >= 2) leaf. */
export function trackedWeights(params: Params): { name: string; leaf: number }[] {
  const leaves = tg.treeLeaves(params);
  const weightLeaves = leaves.map((l, i) => ({ l, i })).filter(({ l }) => l.rank >= 2);
  const entry = (rank: number) => `[${Array(rank).fill(0).join(',')}]`;
  const first = weightLeaves[0];
  const last = weightLeaves[weightLeaves.length - 1];
  return [
    { name: `first layer W${entry(first.l.rank)}`, leaf: first.i },
    { name: `last layer W${entry(last.l.rank)}`, leaf: last.i },
  ];
}

/** The first entry of each tracked leaf, read back. */
export async function firstEntries(params: Params, tracked: { leaf: number }[]): Promise<number[]> {
  const leaves = tg.treeLeaves(params);
  return Promise.all(tracked.map(async ({ leaf }) => (await tg.tidy(() => tg.slice(tg.reshape(leaves[leaf], [-1]), [0], [1])).data())[0]));
}

/**
 * The tracked weights of theta0 + omega_i with omega_i = -J0(X)^T c_i, for all recorded steps at
 * once: entry e of omega_i is -<J0(X) e_e, c_i> (the transpose law), so one JVP per tracked weight
 * (a one-hot tangent) replaces one VJP per recorded step.
 */
export async function closedFormWeights(
  fLin: Linearization<Params>, params0: Params, xTrain: Tensor, coefficients: readonly Matrix[], tracked: { leaf: number }[],
): Promise<number[][]> {
  const leaves = tg.treeLeaves(params0);
  const start = await firstEntries(params0, tracked);
  const columns = await Promise.all(tracked.map(async ({ leaf }) => {
    const column = tg.tidy(() => {
      const oneHot = tg.pad(tg.ones([1], leaves[leaf].dtype), [0], [leaves[leaf].size - 1]);
      return fLin.jvp(xTrain, tg.flatten(params0).unflatten(leaves.map((l, i) => (i === leaf ? tg.reshape(oneHot, l.shape) : null))));
    });
    const values = Float64Array.from(await column.data());
    column.dispose();
    return values;
  }));
  return coefficients.map((c) => columns.map((column, k) => {
    let dot = 0;
    for (let i = 0; i < column.length; i++) dot += column[i] * c.data[i];
    return start[k] - dot;
  }));
}

/** Readable names of parameter leaves in tree-flattening order, e.g. "layer 0 W". */
export function leafNames(params: Params): string[] {
  const names: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node instanceof tg.Tensor) names.push(path);
    else if (Array.isArray(node)) node.forEach((c, i) => walk(c, `${path}${path ? '.' : ''}${i}`));
    else if (node !== null && typeof node === 'object') for (const k of Object.keys(node).sort()) walk((node as Record<string, unknown>)[k], `${path}.${k}`);
  };
  walk(params, '');
  return names.map((n) => `layer ${n}`);
}

/**
 * How far training moved the network from its initialization: ||w_T - w_0||_F / ||w_0||_F per
 * parameter leaf (named as leafNames names them), and ||Theta_T - Theta_0||_F / ||Theta_0||_F for
 * the empirical NTK on the training set (theta0: Theta_0 there, as a host matrix).
 */
export async function relativeChanges(
  apply: (p: Params, x: Tensor) => Tensor, params0: Params, paramsT: Params, xTrain: Tensor, theta0: Matrix,
): Promise<{ relativeWeightChange: { name: string; value: number }[]; relativeNtkChange: number }> {
  const flat0 = tg.flatten(params0);
  const leavesT = tg.treeLeaves(paramsT);
  const names = leafNames(params0);
  const relativeWeightChange: { name: string; value: number }[] = [];
  for (let i = 0; i < flat0.leaves.length; i++) {
    const diff = tg.tidy(() => tg.sub(leavesT[i], flat0.leaves[i]));
    relativeWeightChange.push({ name: names[i], value: (await frobenius(diff)) / (await frobenius(flat0.leaves[i])) });
    diff.dispose();
  }
  const thetaFinal = tg.tidy(() => empiricalNtk(apply, paramsT, xTrain, xTrain));
  const theta0T = tg.tensor(Float32Array.from(theta0.data), [theta0.rows, theta0.cols]);
  const dTheta = tg.tidy(() => tg.sub(thetaFinal, theta0T));
  const relativeNtkChange = (await frobenius(dTheta)) / (await frobenius(theta0T));
  tg.dispose([thetaFinal, theta0T, dTheta]);
  return { relativeWeightChange, relativeNtkChange };
}
