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
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Block {
  line: number;
  lang: 'ts' | 'js';
  noRun: boolean;
  code: string;
}

/** The ```ts / ```js blocks of a markdown text, with the line each starts on. */
export function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code block`);
    const lang = open[1];
    if (lang === 'ts' || lang === 'js') {
      blocks.push({ line: i + 1, lang, noRun: /\bno-run\b/.test(open[2]), code: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return blocks;
}

const SUBPATHS: Record<string, string> = {
  tangentgrad: 'index.ts',
  'tangentgrad/models': 'models/index.ts',
  'tangentgrad/linearize': 'linearize/index.ts',
  'tangentgrad/data': 'data/index.ts',
  'tangentgrad/data/node': 'data/node.ts',
  'tangentgrad/scale': 'scale/index.ts',
};

/** Rewrites the package's import specifiers to the sources, relative to `fromDir`. */
export function rewriteImports(code: string, fromDir: string): string {
  return code.replace(/(from\s+|import\s*\(\s*)(['"])(tangentgrad(?:\/[\w/]+)?)\2/g, (all, pre: string, q: string, spec: string) => {
    const target = SUBPATHS[spec];
    if (!target) throw new Error(`README block imports '${spec}', which is not a documented entry point (${Object.keys(SUBPATHS).join(', ')})`);
    let rel = path.relative(fromDir, path.join(repoRoot, target)).split(path.sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${pre}${q}${rel}${q}`;
  });
}

/** The expected stdout lines: the `// prints:` comments in order. */
export function expectedOutput(code: string): string[] {
  return [...code.matchAll(/\/\/ prints: ?(.*)$/gm)].map((m) => m[1].trimEnd());
}

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
      const file = path.join(work, `block-${block.line}.${block.lang === 'ts' ? 'mts' : 'mjs'}`);
      writeFileSync(file, rewriteImports(block.code, work));
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: repoRoot, encoding: 'utf8', timeout: 90_000 });
      expect(r.stderr === '' || r.status === 0 ? '' : r.stderr).toBe('');
      expect(r.status).toBe(0);
      const lines = r.stdout.split('\n').map((l) => l.trimEnd());
      if (lines[lines.length - 1] === '') lines.pop();
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
