/**
 * tangentgrad: a from-scratch autodiff tensor engine (CPU and WebGPU) with the empirical NTK and
 * the linearized training dynamics of wide networks.
 * The linearization, NTK and dynamics live in the `lin` namespace (linearize/index.ts).
 * @example import * as tg from 'tangentgrad'; import { models, lin, linearize, data } from 'tangentgrad'; const fLin = lin.linearize(apply, params0);
 */
export * from './engine/index.ts';
export * as models from './models/index.ts';
export * as lin from './linearize/index.ts';
/** The same namespace under its documented name. */
export * as linearize from './linearize/index.ts';
export * as data from './data/index.ts';
