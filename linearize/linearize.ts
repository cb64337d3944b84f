/**
 * The linearized network (PAPER.md section 3): f_lin(theta, x) = f(theta0, x) + J0(x) (theta - theta0),
 * evaluated with one forward pass and one JVP over the engine graph; no Jacobian is ever built.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';

/** A network as a function of its parameter tree and an input batch. */
export type ApplyFn<P = any> = (params: P, x: Tensor) => Tensor;

/**
 * Returns f_lin. It is exact at params0, linear in params - params0, and differentiable, so the
 * linearized model can itself be trained by gradient descent or momentum.
 * @example const fLin = linearize(model.apply, params0); const loss = mse(fLin(params, x), y);
 */
export function linearize<P>(f: ApplyFn<P>, params0: P): ApplyFn<P> {
  return (params: P, x: Tensor) => {
    const delta = tg.treeZip([params, params0], ([p, p0]) => {
      if (p.dtype !== p0.dtype || p.shape.join() !== p0.shape.join()) {
        throw new Error(`linearize: parameter ${p.dtype}[${p.shape}] does not match the linearization point ${p0.dtype}[${p0.shape}]`);
      }
      return tg.sub(p, p0);
    });
    const [f0, df] = tg.jvp((p: P) => f(p, x), [params0], [delta]);
    return tg.add(f0, df);
  };
}

/**
 * Weight change omega = -J0(X)^T c for output-space coefficients c (shape of f(params0, X)); with
 * c_t from the closed-form flow this is omega_t of PAPER.md eq. (8). One VJP, no Jacobian.
 */
export function weightChange<P>(f: ApplyFn<P>, params0: P, x: Tensor, coefficients: Tensor): P {
  return tg.tidy(() => {
    const [out, back] = tg.vjp((p: P) => f(p, x), params0);
    if ((out as Tensor).shape.join() !== coefficients.shape.join()) {
      throw new Error(`weightChange: coefficients [${coefficients.shape}] must have the output's shape [${(out as Tensor).shape}]`);
    }
    const [g] = back(coefficients);
    return tg.treeMap(g, (leaf) => tg.neg(leaf));
  });
}
