#!/usr/bin/env node
/** The tangentgrad command line. */
import { runDemo } from './demo.ts';

async function main(argv: string[]): Promise<void> {
  const [command = 'demo'] = argv;
  if (command === 'demo') {
    await runDemo();
    return;
  }
  throw new Error(`unknown command '${command}' (try: demo)`);
}

main(process.argv.slice(2)).catch((e: Error) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
