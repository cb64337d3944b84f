/**
 * Whether the CPU kernels may generate their inner loops with `new Function`.
 *
 * Generated loops inline each op's expression (x + y, Math.exp(x), ...), which V8 cannot do
 * through a closure shared by all ops. A page whose Content-Security-Policy lacks
 * 'unsafe-eval' refuses `new Function` with an EvalError; the kernels then run closure-based
 * loops instead (kernels/cpu/elementwise.ts measures the cost). The check runs once, at the
 * first kernel call, never at import: importing the library works under any CSP.
 */
let allowed: boolean | undefined;

export function canGenerateCode(): boolean {
  if (allowed === undefined) {
    try {
      allowed = new Function('return 1')() === 1;
    } catch {
      // EvalError under a strict CSP (browsers, Deno with --disallow-code-generation, workers).
      allowed = false;
    }
  }
  return allowed;
}

/** Which loops a kernel table uses: generated (when allowed) or closures (always available). */
export type CodegenPolicy = () => boolean;
