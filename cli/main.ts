#!/usr/bin/env node
/**
 * The tangentgrad command line. Each subcommand lives in its own module, imported only when it
 * is called, so `tangentgrad --help` loads nothing but this file.
 */

interface Command {
  readonly summary: string;
  readonly run: (argv: string[]) => Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  study: {
    summary: 'a wide ReLU network vs its linearization (Figure 3 of Lee et al. 2019); the default command',
    run: async (argv) => (await import('./study-command.ts')).studyCommand(argv),
  },
  demo: {
    summary: 'a small tanh MLP trained by gradient descent, its gradient checked by finite differences',
    run: async (argv) => (await import('./demo-command.ts')).demoCommand(argv),
  },
  gp: {
    summary: 'an ensemble of wide networks vs the Gaussian process over initializations (Figure 2)',
    run: async (argv) => (await import('./gp-command.ts')).gpCommand(argv),
  },
  figures: {
    summary: "the paper's figure suite (1, 2, 3, S2, S3, S5, S9) with its claims beside our measurements",
    run: async (argv) => (await import('./figures-command.ts')).figuresCommand(argv),
  },
  data: {
    summary: 'download a dataset once into the cache folder: data cifar10 [--data-dir DIR]',
    run: async (argv) => (await import('./data-command.ts')).dataCommand(argv),
  },
  kernel: {
    summary: 'NNGP / NTK kernels in blocks in a Zarr store: resumable, local threads, BullMQ workers or array jobs',
    run: async (argv) => (await import('./kernel-command.ts')).kernelCommand(argv),
  },
};

function mainHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: tangentgrad [command] [flags]',
    '',
    'Wide neural networks as linear models: empirical NTK, linearized dynamics, infinite-width kernels.',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`),
    '',
    "'tangentgrad <command> --help' lists a command's flags; flags without a command go to study.",
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') return void console.log(mainHelp());
  if (first === undefined || first.startsWith('-')) return COMMANDS.study.run(argv);
  const command = COMMANDS[first];
  if (!command) throw new Error(`unknown command '${first}' (commands: ${Object.keys(COMMANDS).join(', ')}; try --help)`);
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  },
);
