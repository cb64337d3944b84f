/** linearize/: the linearized network, empirical NTKs, and closed-form / integrated training dynamics. */
export { linearize, weightChange, type ApplyFn, type Coefficients, type Linearization, type LinearizeOptions } from './linearize.ts';
export { empiricalNtk, ntkVp, type NtkMethod, type EmpiricalNtkOptions, type NtkVpFn } from './ntk.ts';
export { structuredNtkPlan, type ParameterRule } from './ntk-structured.ts';
export { mseFlow, type MseFlow, type MseFlowInputs, type MseLossScaling } from './flow.ts';
export { dopri5 } from './ode.ts';
export * from './function-space.ts';
export * from './gp.ts';
export * as linalg from '../linalg/dense.ts';
export { matrixFromTensor, toMatrix, type MatrixInput } from './matrix-input.ts';
export { infiniteKernels, infinitePredictor, predictInfinite } from './infinite.ts';
export { monteCarloKernels } from './monte-carlo.ts';
export { gradientDescentMse, gpInference, maxLearningRate, type Get, type GpGet, type Times, type TimeArray, type PredictOptions, type Predictions, type KernelArg, type Gaussian, type ByGet } from './predict.ts';
export { gradientDescentMseEnsemble, type KernelFnLike, type KernelFnOutput } from './predict-ensemble.ts';
export { gradientDescent, momentum, ODEState, type OutputLoss, type GradientDescentOptions } from './predict-ode.ts';
export { empiricalKernelFn, empiricalNtkFn, empiricalNngpFn, type EmpiricalKernelFn, type EmpiricalNtkFn, type EmpiricalKernelOptions, type EmpiricalGet } from './empirical.ts';
export { hostArray, type HostArray, type ArrayInput } from './host-array.ts';
