/**
 * tangentgrad: a from-scratch autodiff tensor engine (CPU and WebGPU) with the empirical NTK and
 * the linearized training dynamics of wide networks.
 * @example import * as tg from 'tangentgrad'; import { models, linearize, data } from 'tangentgrad';
 */
export * from './engine/index.ts';
export * as models from './models/index.ts';
export * as lin from './linearize/index.ts';
/** The same namespace under its documented name. */
export * as linearize from './linearize/index.ts';
export * as data from './data/index.ts';
