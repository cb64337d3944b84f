declare module '@stdlib/math-base-special-erf' {
  /** The error function, accurate to double precision (FreeBSD msun algorithm). */
  const erf: (x: number) => number;
  export default erf;
}
