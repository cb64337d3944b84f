/**
 * The networks the app trains, built from its settings with the stax-style layers of models/.
 * The default (fc, relu, sigma_w^2 = 2, sigma_b^2 = 0.1, NTK parameterization) is exactly the
 * CLI study's network (cli/study.ts), so the two give the same numbers for the same seed.
 */
import {
  Conv,
  Dense,
  Erf,
  Flatten,
  GlobalAvgPool,
  Identity,
  Relu,
  Tanh,
  fanInSum,
  fanOut,
  parallel,
  serial,
  type AnyLayer,
  type KernelLayer,
} from '../../models/index.ts';
import { weightStds, type AppSettings } from './settings.ts';

type NetSettings = Pick<AppSettings, 'arch' | 'width' | 'depth' | 'activation' | 'sigmaW2' | 'sigmaB2' | 'parameterization'>;

function activation(name: AppSettings['activation']): AnyLayer {
  switch (name) {
    case 'relu':
      return Relu();
    case 'erf':
      return Erf();
    case 'tanh':
      return Tanh();
  }
}

/** A short description for the page and the report, e.g. "ReLU FC, 2 hidden layers of 256". */
export function describeNetwork(s: NetSettings): string {
  const act = { relu: 'ReLU', erf: 'erf', tanh: 'tanh' }[s.activation];
  const param = s.parameterization === 'ntk' ? 'NTK parameterization' : 'standard parameterization';
  const what = {
    fc: `${act} fully connected, ${s.depth} hidden layer${s.depth > 1 ? 's' : ''} of width ${s.width}`,
    cnn: `${act} CNN, ${s.depth} conv layer${s.depth > 1 ? 's' : ''} (3x3) of ${s.width} channels`,
    resnet: `${act} residual network, ${s.depth} block${s.depth > 1 ? 's' : ''} of width ${s.width}`,
  }[s.arch];
  return `${what}, sigma_w^2 = ${s.sigmaW2}, sigma_b^2 = ${s.sigmaB2}, ${param}`;
}

/**
 * The network for inputs of `rank` 2 ([N, D]) or 4 (NHWC images). CNN: 3x3 SAME convolutions,
 * the first two with stride 2, then Flatten and a Dense readout. Residual: a stem (Dense, or a
 * stride-2 conv for images), `depth` blocks x + branch(x) with branch = act, layer, act, layer
 * (pre-activation, as neural-tangents' WideResnet), then act and the readout (after a global
 * average pool for images).
 */
export function buildNetwork(s: NetSettings, rank: 2 | 4): KernelLayer {
  const w = { ...weightStds(s), parameterization: s.parameterization };
  const layers: AnyLayer[] = [];
  if (s.arch === 'cnn' && rank !== 4) throw new Error(`buildNetwork: a CNN needs image inputs (rank 4, NHWC), got rank ${rank}`);
  if (s.arch === 'fc') {
    if (rank === 4) layers.push(Flatten());
    for (let i = 0; i < s.depth; i++) layers.push(Dense(s.width, w), activation(s.activation));
  } else if (s.arch === 'cnn') {
    for (let i = 0; i < s.depth; i++) {
      layers.push(Conv(s.width, [3, 3], { ...w, padding: 'SAME', strides: i < 2 ? 2 : 1 }), activation(s.activation));
    }
    layers.push(Flatten());
  } else {
    const inner = (): AnyLayer => (rank === 4 ? Conv(s.width, [3, 3], { ...w, padding: 'SAME' }) : Dense(s.width, w));
    layers.push(rank === 4 ? Conv(s.width, [3, 3], { ...w, padding: 'SAME', strides: 2 }) : Dense(s.width, w));
    for (let i = 0; i < s.depth; i++) {
      layers.push(fanOut(2), parallel(Identity(), serial(activation(s.activation), inner(), activation(s.activation), inner())), fanInSum());
    }
    layers.push(activation(s.activation));
    if (rank === 4) layers.push(GlobalAvgPool());
  }
  layers.push(Dense(1, w));
  return serial(...layers) as KernelLayer;
}
