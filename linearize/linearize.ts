/**
 * The linearized network (PAPER.md section 3): f_lin(theta, x) = f(theta0, x) + J0(x) (theta - theta0),
 * evaluated with one forward pass and one JVP over the engine graph; no Jacobian is ever built.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';

/** A network as a function of its parameter tree and an input batch. */
export type ApplyFn<P> = (params: P, x: Tensor) => Tensor;

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

/** Output-space coefficients: a tensor, or a float64 matrix from linearize/flow.ts (e.g. flow.coefficientsAt(t)). */
export type Coefficients = Tensor | { readonly rows: number; readonly cols: number; readonly data: Float64Array };

/**
 * Weight change omega = -J0(X)^T c for output-space coefficients c (the shape of f(params0, X),
 * or the same number of entries as a float64 Matrix); with c_t from the closed-form flow this is
 * omega_t of PAPER.md eq. (8). One VJP, no Jacobian. Coefficients of another dtype are converted
 * to the network's.
 * @example const omega = weightChange(net.apply, params0, xTrain, flow.coefficientsAt(t));
 */
export function weightChange<P>(f: ApplyFn<P>, params0: P, x: Tensor, coefficients: Coefficients): P {
  return tg.tidy(() => {
    const [out, back] = tg.vjp((p: P) => f(p, x), params0);
    const o = out as Tensor;
    let c: Tensor;
    if (coefficients instanceof tg.Tensor) {
      if (coefficients.shape.join() !== o.shape.join()) {
        throw new Error(`weightChange: coefficients [${coefficients.shape}] must have the output's shape [${o.shape}]`);
      }
      c = tg.cast(coefficients, o.dtype);
    } else {
      if (coefficients.data.length !== o.size) {
        throw new Error(`weightChange: a ${coefficients.rows}x${coefficients.cols} coefficient matrix does not match the output [${o.shape}] (${o.size} entries)`);
      }
      c = tg.tensor(coefficients.data, o.shape, o.dtype, o.backend);
    }
    const [g] = back(c);
    return tg.treeMap(g, (leaf) => tg.neg(leaf));
  });
}
