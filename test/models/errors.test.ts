/** Bad input: every layer and combinator fails early with a message naming the layer and the shapes. */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import {
  AvgPool,
  Conv,
  Dense,
  Elementwise,
  Flatten,
  GlobalAvgPool,
  Relu,
  crossEntropyLoss,
  fanInConcat,
  fanInSum,
  fanOut,
  mseLoss,
  parallel,
  serial,
  wideResnet,
  type Parameterization,
} from '../../models/index.ts';

const k = tg.key(0);

describe('layer construction', () => {
  it('rejects unknown parameterizations, options and bad hyper-parameters', () => {
    expect(() => Dense(3, { parameterization: 'mup' as Parameterization })).toThrow("Dense(3): unknown parameterization 'mup' (expected 'ntk' or 'standard')");
    expect(() => Conv(3, [3, 3], { parameterization: 'NTK' as Parameterization })).toThrow(/Conv\(3, \[3,3\]\): unknown parameterization 'NTK'/);
    expect(() => Dense(3, { w_std: 2 } as object)).toThrow("Dense(3): unknown option 'w_std'");
    expect(() => Dense(3, { strides: 2 } as object)).toThrow("Dense(3): unknown option 'strides'");
    expect(() => Dense(0)).toThrow('Dense(0): the output size must be a positive integer, got 0');
    expect(() => Dense(3, { W_std: -1 })).toThrow('Dense(3): W_std must be a finite number >= 0, got -1');
    expect(() => Dense(3, { b_std: Number.NaN })).toThrow(/Dense\(3\): b_std must be null \(no bias\) or a finite number >= 0/);
    expect(() => Conv(3, [3, 0])).toThrow(/Conv\(3, \[3,0\]\): filterShape must be a positive integer, got 0/);
    expect(() => Conv(3, 3 as unknown as [number, number])).toThrow(/filterShape must be \[k\] \(1-D, on \[N, L, C\]\) or a pair \[kh, kw\]/);
    expect(() => Conv(3, [3, 3], { padding: 'FULL' as 'SAME' })).toThrow(/Conv\(3, \[3,3\]\): padding must be 'SAME' or 'VALID'/);
    expect(() => AvgPool([2, 2], [0, 1])).toThrow(/AvgPool\(\[2,2\]\): strides must be a pair of positive integers/);
    expect(() => fanOut(0)).toThrow('fanOut: n must be a positive integer, got 0');
    expect(() => parallel()).toThrow('parallel: needs at least one layer');
    expect(() => serial(Dense(2), {} as ReturnType<typeof Relu>)).toThrow('serial: argument 1 is not a layer');
    expect(() => Elementwise(tg.tanh, '')).toThrow(/Elementwise: needs a non-empty name/);
  });

  it('wideResnet validates depth and widths', () => {
    expect(() => wideResnet({ depth: 12, constantChannels: 4, numClasses: 2 })).toThrow('wideResnet: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got 12');
    expect(() => wideResnet({ depth: 10, constantChannels: 4, wideningFactor: 1, numClasses: 2 })).toThrow('wideResnet: give exactly one of wideningFactor and constantChannels');
    expect(() => wideResnet({ depth: 10, numClasses: 2 })).toThrow('wideResnet: give exactly one of wideningFactor and constantChannels');
    expect(() => wideResnet({ depth: 10, wideningFactor: 0.3, numClasses: 2 })).toThrow(/wideningFactor must be positive with 16k an integer, got 0.3/);
    expect(() => wideResnet({ depth: 10, constantChannels: 4, numClasses: 0 })).toThrow(/numClasses must be a positive integer, got 0/);
  });

  it('losses reject unknown scalings', () => {
    expect(() => mseLoss('sum' as 'sum/2')).toThrow("mseLoss: unknown scaling 'sum' (expected 'sum/2', 'mean/2' or 'mean')");
    expect(() => crossEntropyLoss('batch' as 'mean')).toThrow("crossEntropyLoss: unknown reduction 'batch' (expected 'mean' or 'sum')");
  });
});

describe('init: wrong input shapes', () => {
  it('Dense and Conv name themselves, the expected layout and the shape given', () => {
    expect(() => Dense(10).init(k, [-1, 28, 28, 1])).toThrow('Dense(10): expected input shape [N, features] (rank 2), got [-1,28,28,1]');
    expect(() => Conv(8, [3, 3]).init(k, [-1, 784])).toThrow('Conv(8, [3,3]): expected input shape [N, H, W, C] (NHWC) (rank 4), got [-1,784]');
    expect(() => Conv(8, [5, 5]).init(k, [-1, 4, 4, 1])).toThrow('Conv(8, [5,5]): the 1x1-dilated filter does not fit input [-1,4,4,1] with VALID padding');
    expect(() => Dense(10).init(k, [-1, 0])).toThrow(/Dense\(10\): invalid input shape \[-1,0\]: axis 1 must be a positive integer/);
    expect(() => Dense(10).init(k, [-2, 3])).toThrow(/axis 0 must be a positive integer or -1 \(unknown batch\)/);
    expect(() => Dense(10).init(k, [[-1, 3], [-1, 3]])).toThrow('Dense(10): expected one input of shape [N, features], got ([-1,3], [-1,3])');
    expect(() => Dense(10).init(k, [-1, 3], 'float16' as 'float32')).toThrow("Dense(10): unknown dtype 'float16' (float32 or float64)");
    expect(() => GlobalAvgPool().init(k, [-1, 3])).toThrow(/GlobalAvgPool: expected input shape \[N, L, C\] or \[N, H, W, C\] \(rank 3 or 4\), got \[-1,3\]/);
    expect(() => AvgPool([3, 3]).init(k, [-1, 2, 2, 1])).toThrow(/AvgPool\(\[3,3\]\): the window does not fit input \[-1,2,2,1\]/);
  });

  it('combinators say where the failing layer sits', () => {
    expect(() => serial(Dense(4), Relu(), Conv(2, [3, 3])).init(k, [-1, 5])).toThrow(
      'serial: layer 2 (Conv): Conv(2, [3,3]): expected input shape [N, H, W, C] (NHWC) (rank 4), got [-1,4]',
    );
    expect(() => parallel(Dense(2), Dense(3)).init(k, [-1, 4])).toThrow('parallel: expected a list of input shapes, got one shape [-1,4]');
    expect(() => parallel(Dense(2), Dense(3)).init(k, [[-1, 4]])).toThrow('parallel: expected 2 input shapes, got 1: ([-1,4])');
    expect(() => fanInSum().init(k, [[-1, 4], [-1, 5]])).toThrow('fanInSum: all inputs must have the same shape, got ([-1,4], [-1,5])');
    expect(() => fanInConcat().init(k, [[-1, 4, 2], [-1, 5, 2]])).toThrow('fanInConcat(-1): inputs must agree on every axis but 2, got ([-1,4,2], [-1,5,2])');
    expect(() => fanInConcat(0).init(k, [[-1, 4], [-1, 4]])).toThrow(/fanInConcat\(0\): cannot concatenate along the batch axis 0/);
    expect(() => fanInConcat(3).init(k, [[-1, 4], [-1, 4]])).toThrow(/fanInConcat\(3\): axis 3 is out of range/);
  });

  it('a failing serial init frees the parameters its earlier layers drew', () => {
    const before = tg.liveTensorCount();
    expect(() => serial(Dense(4, { b_std: 1 }), Dense(3), Conv(2, [3, 3])).init(k, [-1, 5], 'float64')).toThrow(/serial: layer 2/);
    expect(tg.liveTensorCount()).toBe(before);
  });
});

describe('apply: wrong inputs and params', () => {
  it('Dense and Conv reject wrong ranks and mismatched sizes, naming the shapes', () => {
    tg.tidy(() => {
      const dense = Dense(3);
      const dp = dense.init(k, [-1, 4], 'float64').params;
      expect(() => dense.apply(dp, tg.zeros([2, 4, 1], 'float64'))).toThrow('Dense(3): expected input [N, features] (rank 2), got [2,4,1]');
      expect(() => dense.apply(dp, tg.zeros([2, 5], 'float64'))).toThrow('Dense(3): input [2,5] does not match weight [4,3] (expected [5,3])');
      expect(() => dense.apply(null, tg.zeros([2, 4], 'float64'))).toThrow("Dense(3): params must be an object with a tensor 'W' (as returned by init)");
      expect(() => Dense(3, { b_std: 0.1 }).apply(dp, tg.zeros([2, 4], 'float64'))).toThrow("Dense(3): params must be an object with a tensor 'b'");
      expect(() => dense.apply(dp, [tg.zeros([2, 4], 'float64')])).toThrow('Dense(3): expected one input tensor [N, features], got a list ([2,4])');
      const conv = Conv(2, [3, 3], { padding: 'SAME' });
      const cp = conv.init(k, [-1, 5, 5, 3], 'float64').params;
      expect(() => conv.apply(cp, tg.zeros([2, 75], 'float64'))).toThrow('Conv(2, [3,3]): expected input [N, H, W, C] (NHWC) (rank 4), got [2,75]');
      expect(() => conv.apply(cp, tg.zeros([2, 5, 5, 4], 'float64'))).toThrow('Conv(2, [3,3]): input [2,5,5,4] does not match kernel [3,3,3,2] (expected [3,3,4,2])');
    });
  });

  it('combinators and shape layers reject wrong structures', () => {
    tg.tidy(() => {
      const x = tg.zeros([2, 3], 'float64');
      expect(() => serial(Relu(), Relu()).apply([null], x)).toThrow('serial: params must be an array with one entry per layer (2), as returned by init');
      expect(() => parallel(Relu(), Relu()).apply([null, null], x)).toThrow('parallel: expected a list of inputs, got one tensor [2,3]');
      expect(() => parallel(Relu(), Relu()).apply([null, null], [x])).toThrow('parallel: expected 2 inputs, got 1: ([2,3])');
      expect(() => fanInSum().apply(null, [x, tg.zeros([2, 4], 'float64')])).toThrow('fanInSum: all inputs must have the same shape, got ([2,3], [2,4])');
      expect(() => fanInSum().apply(null, x)).toThrow('fanInSum: expected a list of inputs, got one tensor [2,3]');
      expect(() => fanInConcat().apply(null, [x, [x]])).toThrow('fanInConcat(-1): input 1 must be one tensor, got ([2,3])');
      expect(() => Relu().apply(null, [x])).toThrow('Relu: expected one input tensor [N, ...], got a list ([2,3])');
      expect(() => Flatten().apply(null, [x])).toThrow(/Flatten: expected one input tensor/);
      expect(() => Elementwise((t) => tg.sum(t), 'sum').apply(null, x)).toThrow("Elementwise(sum): the function must return a tensor of the input's shape [2,3], got []");
      expect(() => serial(Dense(2), Relu()).apply([null, null], x)).toThrow("serial: layer 0 (Dense): Dense(2): params must be an object with a tensor 'W'");
    });
  });
});
