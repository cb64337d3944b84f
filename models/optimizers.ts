/**
 * Optimizers as pure functions on parameter trees (optax-style, but with PAPER.md section 5's
 * conventions): `init(params)` makes the state tree, `update(params, grads, state)` returns new
 * params and state. `update` never disposes its inputs; the caller (e.g. `train`) owns them and
 * frees the old trees once it has the new ones, which keeps memory flat without the optimizer
 * having to guess what else still holds a reference.
 */
import type { Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import type { Params } from './layer.ts';

export interface Optimizer<S = unknown, H = unknown> {
  readonly name: string;
  readonly hyper: H;
  /** The initial state for `params` (new tensors owned by the caller, or null). */
  init(params: Params): S;
  /**
   * One step. Pure: returns fresh tensors only (never a leaf of its inputs, so the caller can
   * free the old trees) and leaves params, grads and state untouched.
   */
  update(params: Params, grads: Params, state: S): { params: Params; state: S };
}

function checkRate(op: string, learningRate: number): void {
  if (!(Number.isFinite(learningRate) && learningRate > 0)) throw new Error(`${op}: learning rate must be a finite number > 0, got ${learningRate}`);
}

function checkSameTree(op: string, a: Params, b: Params, what: string): void {
  const la = tg.treeLeaves(a);
  const lb = tg.treeLeaves(b);
  if (la.length !== lb.length) throw new Error(`${op}: ${what} has ${lb.length} tensors but params have ${la.length}`);
  la.forEach((p, i) => {
    const g = lb[i];
    if (p.shape.length !== g.shape.length || p.shape.some((d, j) => d !== g.shape[j])) {
      throw new Error(`${op}: ${what} leaf ${i} is [${g.shape.join(',')}] but the parameter is [${p.shape.join(',')}]`);
    }
  });
}

/**
 * Plain gradient descent: theta_{i+1} = theta_i - eta * grad. State: null.
 * @example const opt = gradientDescent(1.0); const { params: next } = opt.update(params, grads, null);
 */
export function gradientDescent(learningRate: number): Optimizer<null, { readonly learningRate: number }> {
  checkRate('gradientDescent', learningRate);
  return {
    name: 'gradientDescent',
    hyper: Object.freeze({ learningRate }),
    init: () => null,
    update(params: Params, grads: Params) {
      checkSameTree('gradientDescent', params, grads, 'the gradient');
      return tg.tidy(() => ({
        params: tg.treeZip([params, grads], ([p, g]: Tensor[]) => tg.sub(p, tg.mul(g, learningRate))) as Params,
        state: null,
      }));
    },
  };
}

/** Heavy-ball state: velocity = theta_i - theta_{i-1} (zeros before the first step). */
export interface MomentumState {
  readonly velocity: Params;
}

/**
 * Heavy-ball momentum exactly as PAPER.md section 5:
 *   theta_{i+1} = theta_i - eta * grad + beta * (theta_i - theta_{i-1}),   theta_{-1} = theta_0.
 * The state keeps the velocity v_i = theta_i - theta_{i-1}, so v_{i+1} = beta v_i - eta grad and
 * theta_{i+1} = theta_i + v_{i+1}. (optax's sgd(momentum) keeps v = g + beta v and steps by
 * -eta v: the same trajectory for a constant eta.) In continuous time this is
 * t = i sqrt(eta), beta~ = (beta - 1) / sqrt(eta).
 * @example const opt = momentum(0.1, 0.9); let state = opt.init(params);
 */
export function momentum(learningRate: number, beta: number): Optimizer<MomentumState, { readonly learningRate: number; readonly beta: number }> {
  checkRate('momentum', learningRate);
  if (!(Number.isFinite(beta) && beta >= 0 && beta < 1)) throw new Error(`momentum: beta must be in [0, 1), got ${beta}`);
  return {
    name: 'momentum',
    hyper: Object.freeze({ learningRate, beta }),
    init(params: Params): MomentumState {
      return { velocity: tg.treeMap(params, (p) => tg.zerosLike(p)) as Params };
    },
    update(params: Params, grads: Params, state: MomentumState) {
      checkSameTree('momentum', params, grads, 'the gradient');
      if (state === null || typeof state !== 'object' || !('velocity' in state)) {
        throw new Error('momentum: state must be { velocity } as returned by init');
      }
      checkSameTree('momentum', params, state.velocity, 'the velocity');
      return tg.tidy(() => {
        const velocity = tg.treeZip([state.velocity, grads], ([v, g]: Tensor[]) => tg.sub(tg.mul(v, beta), tg.mul(g, learningRate))) as Params;
        const next = tg.treeZip([params, velocity], ([p, v]: Tensor[]) => tg.add(p, v)) as Params;
        return { params: next, state: { velocity } };
      });
    },
  };
}
