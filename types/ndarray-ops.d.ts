// ndarray-ops ships no types; these cover the functions the CPU backend uses.
declare module 'ndarray-ops' {
  import type { NdArray } from 'ndarray';
  type Binary = (out: NdArray, a: NdArray, b: NdArray) => NdArray;
  type Unary = (out: NdArray, a: NdArray) => NdArray;
  const ops: {
    assign: Unary;
    assigns: (out: NdArray, s: number) => NdArray;
    add: Binary; sub: Binary; mul: Binary; div: Binary;
    max: Binary; min: Binary; pow: Binary;
    gt: Binary; geq: Binary; lt: Binary; leq: Binary; eq: Binary; neq: Binary;
    neg: Unary; abs: Unary; exp: Unary; log: Unary; sqrt: Unary; sin: Unary; cos: Unary;
    [name: string]: (...args: any[]) => any;
  };
  export default ops;
}
