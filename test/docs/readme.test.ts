/**
 * README doc tests: every ```ts and ```js block of README.md is a complete program, run as
 * written and checked against what it says it prints.
 *
 * The convention:
 * - A block's expected standard output is given by its `// prints: <line>` comments, in order,
 *   one comment per output line; the program's stdout must be exactly those lines (trailing
 *   spaces ignored). A block without any `// prints:` comment must print nothing and exit 0.
 *   Blocks print rounded values (toFixed / toPrecision) so the expectation is exact.
 * - A block fenced as ```ts no-run (or ```js no-run) is skipped explicitly (browser-only code,
 *   code that needs a download or a GPU); the test lists them. Other languages (sh, text) are
 *   not programs and are not collected.
 * - Imports of the package ('tangentgrad', 'tangentgrad/models', 'tangentgrad/linearize',
 *   'tangentgrad/data', 'tangentgrad/data/node') are rewritten to the repository's sources, and
 *   each block runs with tsx from a temporary file inside the repository, so it resolves the
 *   repository's node_modules.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { codeBlocks, expectedOutput, rewriteImports, runBlock } from './code-blocks.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const blocks = codeBlocks(readFileSync(path.join(repoRoot, 'README.md'), 'utf8'));
const work = mkdtempSync(path.join(repoRoot, 'test/docs/.readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('README.md code blocks', () => {
  it('has runnable blocks, and lists the ones marked no-run', () => {
    expect(blocks.filter((b) => !b.noRun).length).toBeGreaterThan(0);
    const skipped = blocks.filter((b) => b.noRun).map((b) => `README.md:${b.line}`);
    if (skipped.length > 0) console.log(`no-run blocks (skipped): ${skipped.join(', ')}`);
  });

  for (const block of blocks.filter((b) => !b.noRun)) {
    it(`README.md:${block.line} runs and prints what it says`, () => {
      const r = runBlock(block, work, `block-${block.line}`);
      expect(r.stderr === '' || r.status === 0 ? '' : r.stderr).toBe('');
      expect(r.status).toBe(0);
      const lines = r.lines;
      expect(lines).toEqual(expectedOutput(block.code));
    });
  }
});

describe('the doc-test conventions', () => {
  it('collects ts/js blocks with their line and no-run flag, and rewrites package imports', () => {
    const md = ['text', '```sh', 'npm i', '```', '```ts', "import * as tg from 'tangentgrad';", '// prints: 1', '```', '```js no-run', 'x', '```'].join('\n');
    expect(codeBlocks(md)).toEqual([
      { line: 5, lang: 'ts', noRun: false, code: "import * as tg from 'tangentgrad';\n// prints: 1" },
      { line: 9, lang: 'js', noRun: true, code: 'x' },
    ]);
    expect(rewriteImports("import { loadCifar10Dir } from 'tangentgrad/data/node';", path.join(repoRoot, 'test/docs/x'))).toBe(
      "import { loadCifar10Dir } from '../../../data/node.ts';",
    );
    expect(() => rewriteImports("import 'tangentgrad/nope';".replace("import '", "import x from '"), repoRoot)).toThrow(/not a documented entry point/);
    expect(expectedOutput('a // prints: 1 2\n// prints: x  \nb')).toEqual(['1 2', 'x']);
  });
});
