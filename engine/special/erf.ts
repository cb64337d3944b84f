/**
 * The error function and its complement in float64, accurate to about one ulp everywhere
 * (erfc keeps that relative accuracy in its tail, down to ~1e-300 near x = 26.5).
 *
 * A port of fdlibm's s_erf.c (Sun Microsystems, 1993; "Permission to use, copy, modify, and
 * distribute this software is freely granted, provided that this notice is preserved"): W. J.
 * Cody's rational approximations on [0, 0.84375), [0.84375, 1.25), [1.25, 1/0.35), [1/0.35, 6)
 * (erfc: up to 28), each of the form erfc(x) = exp(-x^2 - 0.5625 + R/S) / x in the tails. Our own
 * copy so that the library has no runtime dependency for a function this small; checked
 * against 50-digit mpmath values in test/engine/erf.test.ts.
 */

const ERX = 8.45062911510467529297e-1; // erf(1) rounded to single precision, the constant term on [0.84375, 1.25)
const EFX = 1.28379167095512586316e-1; // 2/sqrt(pi) - 1
const EFX8 = 1.02703333676410069053; // 8 * EFX

// erf(x) = x + x * R(x^2) on [0, 0.84375), R = pp / qq.
const pp = (z: number) => 1.28379167095512558561e-1 + z * (-0.3250421072470015 + z * (-0.02848174957559851 + z * (-0.005770270296489442 + z * -0.000023763016656650163)));
const qq = (z: number) => 1 + z * (0.39791722395915535 + z * (0.0650222499887673 + z * (0.005081306281875766 + z * (0.00013249473800432164 + z * -0.000003960228278775368))));
// erf(1 + s) = ERX + pa(s) / qa(s) on [0.84375, 1.25).
const pa = (s: number) =>
  -2.36211856075265944077e-3 + s * (0.41485611868374833 + s * (-0.3722078760357013 + s * (0.31834661990116175 + s * (-0.11089469428239668 + s * (0.035478304325618236 + s * -0.002166375594868791)))));
const qa = (s: number) => 1 + s * (0.10642088040084423 + s * (0.540397917702171 + s * (0.07182865441419627 + s * (0.12617121980876164 + s * (0.01363708391202905 + s * 0.011984499846799107)))));
// erfc(x) = exp(-x^2 - 0.5625 + ra(s) / sa(s)) / x with s = 1/x^2 on [1.25, 1/0.35).
const ra = (s: number) =>
  -9.86494403484714822705e-3 + s * (-0.6938585727071818 + s * (-10.558626225323291 + s * (-62.375332450326006 + s * (-162.39666946257347 + s * (-184.60509290671104 + s * (-81.2874355063066 + s * -9.814329344169145))))));
const sa = (s: number) =>
  1 + s * (19.651271667439257 + s * (137.65775414351904 + s * (434.56587747522923 + s * (645.3872717332679 + s * (429.00814002756783 + s * (108.63500554177944 + s * (6.570249770319282 + s * -0.0604244152148581)))))));
// The same on [1/0.35, 28).
const rb = (s: number) =>
  -9.86494292470009928597e-3 + s * (-0.799283237680523 + s * (-17.757954917754752 + s * (-160.63638485582192 + s * (-637.5664433683896 + s * (-1025.0951316110772 + s * -483.5191916086514)))));
const sb = (s: number) =>
  1 + s * (30.33806074348246 + s * (325.7925129965739 + s * (1536.729586084437 + s * (3199.8582195085955 + s * (2553.0504064331644 + s * (474.52854120695537 + s * -22.44095244658582))))));

const SPLIT = new DataView(new ArrayBuffer(8));

/**
 * erfc(ax) for ax in [1.25, 28): exp(-ax^2 - 0.5625 + R/S) / ax. ax^2 is formed as z^2 + (z-ax)(z+ax)
 * with z = ax with its low 32 bits cleared, so z^2 is exact and exp's argument keeps full precision.
 */
function tail(ax: number): number {
  const s = 1 / (ax * ax);
  const rs = ax < 1 / 0.35 ? ra(s) / sa(s) : rb(s) / sb(s);
  SPLIT.setFloat64(0, ax);
  SPLIT.setUint32(4, 0); // big-endian DataView: bytes 4..7 are the low word
  const z = SPLIT.getFloat64(0);
  return (Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + rs)) / ax;
}

/** The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, to about one ulp. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 2 ** -28) {
      // erf(x) = 2x/sqrt(pi) to within x^3; the 8x scaling keeps subnormal x from losing bits.
      return ax < 2.848094538889218e-306 ? 0.125 * (8 * x + EFX8 * x) : x + EFX * x;
    }
    const z = x * x;
    return x + x * (pp(z) / qq(z));
  }
  if (ax < 1.25) {
    const s = ax - 1;
    const v = ERX + pa(s) / qa(s);
    return x < 0 ? -v : v;
  }
  if (ax >= 6) return x < 0 ? -1 : 1; // 1 - erf(6) = 2e-17 is below half an ulp of 1
  const v = 1 - tail(ax);
  return x < 0 ? -v : v;
}

/** The complementary error function erfc(x) = 1 - erf(x), accurate relative to itself for large x. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 2 ** -56) return 1 - x;
    const z = x * x;
    const y = pp(z) / qq(z);
    // Below 1/4, 1 - erf(x) loses nothing; above it, 0.5 - (x - 0.5 + x y) avoids the cancellation.
    return x < 0.25 ? 1 - (x + x * y) : 0.5 - (x * y + (x - 0.5));
  }
  if (ax < 1.25) {
    const s = ax - 1;
    const pq = pa(s) / qa(s);
    return x > 0 ? 1 - ERX - pq : 1 + (ERX + pq);
  }
  if (x <= -6) return 2; // 2 - erfc(6) rounds to 2
  if (ax >= 28) return 0; // erfc(28) = 6e-343 underflows
  const r = tail(ax);
  return x > 0 ? r : 2 - r;
}
