/**
 * The doc-test conventions shared by README.md and docs/*.md (see readme.test.ts's comment):
 * collecting ```ts / ```js blocks, rewriting the package's imports to the sources, and reading
 * the `// prints:` expectations.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface Block {
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
    if (end < 0) throw new Error(`line ${i + 1}: unclosed code block`);
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

/**
 * Runs one block as a program from `dir` (a temporary folder inside the repository, so it resolves
 * the repository's node_modules) with its package imports rewritten; returns its exit status,
 * stdout lines (a final empty line dropped) and stderr.
 */
export function runBlock(block: Block, dir: string, name: string): { status: number | null; lines: string[]; stderr: string } {
  const file = path.join(dir, `${name}.${block.lang === 'ts' ? 'mts' : 'mjs'}`);
  writeFileSync(file, rewriteImports(block.code, dir));
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: repoRoot, encoding: 'utf8', timeout: 90_000 });
  const lines = r.stdout.split('\n').map((l) => l.trimEnd());
  if (lines[lines.length - 1] === '') lines.pop();
  return { status: r.status, lines, stderr: r.stderr };
}
