/** Bad input raises an error that names the op and the offending shapes or values. */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';

const t = (shape: number[], dtype: tg.DType = 'float32') => tg.zeros(shape, dtype);

describe('bad input', () => {
  it('mismatched broadcasting shapes', () => {
    expect(() => tg.add(t([2, 3]), t([4]))).toThrow('add: shapes [2,3] and [4] do not broadcast');
    expect(() => tg.where(t([2]), t([3]), t([3]))).toThrow(/where: shapes \[2\] and \[3\] do not broadcast/);
  });
  it('mixed dtypes', () => {
    expect(() => tg.mul(t([2]), t([2], 'float64'))).toThrow('mul: dtypes differ: float32[2] and float64[2] (cast one explicitly)');
    expect(() => tg.matmul(t([2, 2]), t([2, 2], 'float64'))).toThrow(/matmul: dtypes differ/);
    expect(() => tg.cast(t([2]), 'int8' as tg.DType)).toThrow(/cast: unknown dtype 'int8'/);
  });
  it('bad axes', () => {
    expect(() => tg.sum(t([2, 3]), 2)).toThrow('sum: axis 2 is out of range for shape [2,3] (rank 2)');
    expect(() => tg.sum(t([2, 3]), [0, 0])).toThrow(/sum: axis 0 repeated/);
    expect(() => tg.transpose(t([2, 3]), [0, 0])).toThrow(/transpose: \[0,0\] is not a permutation of the axes of \[2,3\]/);
    expect(() => tg.concat([t([2, 3]), t([2, 4])], 0)).toThrow(/concat: inputs float32\[2,3\], float32\[2,4\] differ outside axis 0/);
    expect(() => tg.reverse(t([2]), 1)).toThrow(/reverse: axis 1 is out of range/);
  });
  it('movement ops that do not fit', () => {
    expect(() => tg.reshape(t([2, 3]), [4, 2])).toThrow('reshape: cannot reshape [2,3] (6 elements) to [4,2]');
    expect(() => tg.broadcastTo(t([3]), [2, 4])).toThrow('broadcastTo: shapes [3] and [2,4] do not broadcast');
    expect(() => tg.slice(t([4]), [2], [6])).toThrow(/slice: range \[2, 6\) on axis 0 is empty or outside \[4\]/);
    expect(() => tg.pad(t([4]), [-1], [0])).toThrow(/pad: paddings must be non-negative/);
  });
  it('matmul shapes', () => {
    expect(() => tg.matmul(t([2, 3]), t([4, 5]))).toThrow('matmul: inner dimensions differ: [2,3] x [4,5]');
    expect(() => tg.matmul(t([2, 2, 3]), t([3, 3, 2]))).toThrow(/matmul: shapes \[2\] and \[3\] do not broadcast/);
  });
  it('conv shapes that do not fit', () => {
    expect(() => tg.conv2d(t([1, 4, 4, 3]), t([3, 3, 2, 8]))).toThrow(/conv2d: input channels 3 != kernel input channels 2/);
    expect(() => tg.conv2d(t([1, 2, 2, 1]), t([3, 3, 1, 1]))).toThrow(/conv2d: the kernel does not fit: input \[1,2,2,1\] \(NHWC\), kernel \[3,3,1,1\] \(HWIO\).*output 0x0/);
    expect(() => tg.conv2d(t([4, 4, 3]), t([3, 3, 3, 1]))).toThrow(/conv2d: need rank-4 input/);
    expect(() => tg.conv2d(t([1, 4, 4, 1]), t([3, 3, 1, 1]), { strides: 0 })).toThrow(/conv2d: strides must be two integers >= 1/);
  });
  it('losses do not broadcast', () => {
    expect(() => tg.mse(t([4, 1]), t([4]))).toThrow('mse: prediction [4,1] and target [4] differ (no broadcasting in losses)');
  });
  it('tensor construction', () => {
    expect(() => tg.tensor([1, 2, 3], [2, 2])).toThrow('tensor: 3 values do not fill shape [2,2]');
    expect(() => tg.zeros([2, -1])).toThrow(/full: invalid shape \[2,-1\]/);
  });
});
