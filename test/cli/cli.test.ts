/**
 * The command line as a user runs it (a child process): the help texts, a bad --out refused
 * before any work, the report pair written atomically, and the demo converging.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../cli/demo.ts';
import { prepareOutDir } from '../../cli/out-dir.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), 'tangentgrad-cli-'));
chmodSync(tmp, 0o755); // readable by uid 65534 where the read-only test runs as it
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/**
 * Runs `tangentgrad ...args`. Root ignores permission bits, so as root `permissionBits` makes them
 * apply: with util-linux's setpriv the child runs as root without the capabilities that override
 * them (it still reads a checkout in a 0700 folder such as mktemp -d's, which it owns); without
 * setpriv it runs as uid 65534 (which needs a world-readable checkout).
 */
function cli(args: string[], opts: { permissionBits?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  let command = process.execPath;
  let commandArgs = ['--import', 'tsx', 'cli/main.ts', ...args];
  let drop = {};
  if (opts.permissionBits && process.getuid?.() === 0) {
    if (SETPRIV) {
      commandArgs = ['--bounding-set=-dac_override,-dac_read_search', '--', command, ...commandArgs];
      command = SETPRIV;
    } else {
      drop = { uid: 65534, gid: 65534 };
    }
  }
  const r = spawnSync(command, commandArgs, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, env: opts.env ?? process.env, ...drop });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('help', () => {
  it('tangentgrad --help lists every subcommand with a line each', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    for (const command of ['study', 'demo', 'gp', 'figures', 'data', 'kernel']) expect(r.stdout).toMatch(new RegExp(`^  ${command} +\\S.+$`, 'm'));
    expect(r.stderr).toBe('');
  });

  it.each(['study', 'demo', 'gp', 'figures', 'data', 'data cifar10', 'kernel', 'kernel run'])("'%s --help' prints its usage and runs nothing", (command) => {
    const r = cli([...command.split(' '), '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`usage: tangentgrad ${command === 'study' ? '[study]' : command === 'data' ? 'data cifar10' : command === 'kernel' ? 'kernel <action>' : command} [flags]`);
    expect(r.stdout).toContain('--help');
    // Nothing ran: no gradient check (demo), no backend line (study), nothing on stderr.
    expect(r.stdout).not.toContain('gradient check');
    expect(r.stderr).toBe('');
  });

  it('an unknown command or flag is one clear line', () => {
    expect(cli(['fly']).stderr).toBe("error: unknown command 'fly' (commands: study, demo, gp, figures, data, kernel; try --help)\n");
    expect(cli(['demo', '--stepz', '3']).stderr).toMatch(/^error: demo: Unknown option '--stepz'.*\(see --help\)\n$/);
  });
});

describe('--out is checked before any work', () => {
  it('a file is refused at once with a clear error', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    for (const command of [[], ['gp']]) {
      const r = cli([...command, '--out', file]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`error: --out '${file}': is a file, not a folder\n`);
      expect(r.stdout).toBe('');
    }
    expect(cli(['--out', path.join(file, 'sub')]).stderr).toBe(`error: --out '${path.join(file, 'sub')}': cannot be created: a parent is a file\n`);
  });

  it('a read-only folder is refused at once with a clear error', () => {
    const ro = path.join(tmp, 'read-only');
    prepareOutDir(ro);
    chmodSync(ro, 0o555);
    const r = cli(['--out', ro, '--no-progress'], { permissionBits: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: --out '${ro}': is not writable (EACCES: permission denied)\n`);
    expect(r.stdout).toBe('');
  });

  it('a missing folder is created with its parents', () => {
    const deep = path.join(tmp, 'x', 'y', 'z');
    expect(prepareOutDir(deep)).toBe(deep);
    expect(readdirSync(deep)).toEqual([]);
  });
});

describe('backend auto', () => {
  it("without a usable WebGPU adapter runs on the CPU, saying why in one line and printing none of Dawn's warnings", () => {
    // Debian 12's own lavapipe (mesa-vulkan-drivers 22.3, which .ci/run installs) is a driver
    // Dawn rejects, printing warnings from C++ as it does; without it, no driver at all.
    const debianLavapipe = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
    const icd = existsSync(debianLavapipe) ? debianLavapipe : path.join(tmp, 'no-such-icd.json');
    const env = { ...process.env, VK_ICD_FILENAMES: icd, VK_DRIVER_FILES: icd };
    const out = path.join(tmp, 'auto');
    const r = cli(['--dataset', 'cifar2', '--data-dir', 'test/fixtures/cifar10', '--train-size', '16', '--test-size', '8', '--width', '16', '--steps', '3', '--no-progress', '--out', out], { env });
    expect(r.status).toBe(0);
    // stderr holds the log: exactly the one backend line, nothing of Dawn's or the Vulkan loader's.
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^backend: cpu \(no usable WebGPU adapter \(.*no adapter found/)]);
    expect(r.stdout).toMatch(/^backend +cpu \(no usable WebGPU adapter/m);
  });
});

describe('reports are written atomically', () => {
  it('a process interrupted while rewriting the pair leaves a matching json and html, and no temporaries', async () => {
    const out = path.join(tmp, 'atomic');
    prepareOutDir(out);
    for (const delay of [30, 90, 170, 260, 410]) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/cli/write-report-loop.ts', out], { cwd: repoRoot });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`the writer exited early (${code}): ${stderr}`)));
      });
      await new Promise((r) => setTimeout(r, delay));
      let exited = false;
      const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
      // A SIGINT landing in the microseconds between the writer's last event-loop poll and the
      // removal of its listener is dropped by Node (cli/report.ts says so), as a user's Ctrl-C
      // would be; like that user, the test presses it again. Only SIGINT is sent, never SIGKILL,
      // so every exit is through the writer's own signal handling.
      for (let presses = 0; !exited; presses++) {
        expect(presses, 'the writer ignored 20 SIGINTs').toBeLessThan(20);
        child.kill('SIGINT');
        await Promise.race([exit, new Promise((r) => setTimeout(r, 1000))]);
      }
      const json = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as { version: number };
      const html = readFileSync(path.join(out, 'report.html'), 'utf8');
      expect(html).toContain(`<title>version ${json.version}</title>`);
      expect(readdirSync(out).sort()).toEqual(['report.html', 'report.json']);
    }
  });
});

describe('demo', () => {
  it('converges: the learning rate is below the stable threshold and the loss falls by orders of magnitude', async () => {
    const lines: string[] = [];
    const r = await runDemo({ steps: 800 }, (l) => lines.push(l));
    expect(r.lr).toBeLessThan(2 / r.lambdaMax);
    expect(r.losses.every((l) => Number.isFinite(l.loss))).toBe(true);
    const first = r.losses[0].loss;
    const last = r.losses[r.losses.length - 1].loss;
    expect(r.losses[r.losses.length - 1].step).toBe(800);
    expect(last).toBeLessThan(first / 100);
    // Monotone at the logged steps: a stable step never increases a smooth loss much.
    for (let i = 1; i < r.losses.length; i++) expect(r.losses[i].loss).toBeLessThan(r.losses[i - 1].loss);
    expect(lines[0]).toMatch(/^gradient check/);
  });

  it('a learning rate far above 2/lambda_max is reported as divergence, naming the threshold', async () => {
    await expect(runDemo({ steps: 200, lr: 50 }, () => {})).rejects.toThrow(/demo: the loss became (NaN|Infinity) at step \d+ with learning rate 50 \(stable below 0\.0\d+\); use a smaller --lr/);
  });
});
