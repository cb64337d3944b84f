// ndarray-ops ships no types; these cover what the reference test uses.
declare module 'ndarray-ops' {
  import type { NdArray } from 'ndarray';
  const ops: {
    assign: (out: NdArray, a: NdArray) => NdArray;
    add: (out: NdArray, a: NdArray, b: NdArray) => NdArray;
  };
  export default ops;
}
