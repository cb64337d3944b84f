/** The `demo` subcommand's flags and entry point (the engine is imported only when it runs). */
import { intFlag, numberFlag, parseFlags, usage, type FlagSpec } from './args.ts';

export const DEMO_SUMMARY =
  'A small end-to-end check of the engine on the CPU: a 2-layer tanh MLP fit to sin(1.5 x) by full-batch\ngradient descent, its gradient first checked against central finite differences in float64.';

export const DEMO_FLAGS: FlagSpec[] = [
  { name: 'steps', type: 'string', help: 'gradient descent steps', default: '2000' },
  { name: 'lr', type: 'string', help: "learning rate, or 'auto' = 1/lambda_max of the loss Hessian at init (half the stable threshold)", default: 'auto' },
  { name: 'seed', type: 'string', help: 'seed of the initialization', default: '0' },
];

/** @example await demoCommand(['--steps', '500']); */
export async function demoCommand(argv: string[]): Promise<void> {
  const v = parseFlags('demo', argv, DEMO_FLAGS);
  if (v.help) {
    console.log(usage('demo', DEMO_SUMMARY, DEMO_FLAGS));
    return;
  }
  const options = {
    steps: intFlag('steps', v.steps, 1, 1_000_000),
    lr: v.lr === 'auto' ? null : numberFlag('lr', v.lr),
    seed: intFlag('seed', v.seed, 0, 0xffffffff),
  };
  const { runDemo } = await import('./demo.ts');
  await runDemo(options);
}
