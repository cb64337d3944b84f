/** Flag parsing for the study CLI: every flag validated with a message naming it, before any work starts. */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly default?: string;
}

export function usage(command: string, summary: string, flags: readonly FlagSpec[]): string {
  const lines = flags.map((f) => {
    const left = `  --${f.name}${f.type === 'string' ? ' <value>' : ''}`;
    return `${left.padEnd(28)}${f.help}${f.default !== undefined ? ` (default: ${f.default})` : ''}`;
  });
  return `usage: tangentgrad ${command} [flags]\n\n${summary}\n\nflags:\n${lines.join('\n')}\n  --help                    this message`;
}

/** Parses argv against the specs; unknown flags and positionals are errors. */
export function parseFlags(command: string, argv: readonly string[], flags: readonly FlagSpec[]): Record<string, string | boolean> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const f of flags) options[f.name] = { type: f.type };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new Error(`${command}: ${(e as Error).message} (see --help)`);
  }
  const values: Record<string, string | boolean> = {};
  for (const f of flags) {
    const v = parsed.values[f.name];
    if (v !== undefined) values[f.name] = v as string | boolean;
    else if (f.default !== undefined) values[f.name] = f.type === 'boolean' ? f.default === 'true' : f.default;
  }
  if (parsed.values.help) values.help = true;
  return values;
}

export function intFlag(name: string, raw: string | boolean, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(raw);
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new Error(`--${name} must be an integer in [${min}, ${max}], got '${String(raw)}'`);
  }
  return v;
}

export function numberFlag(name: string, raw: string | boolean, positive = true): number {
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || (positive && v <= 0)) {
    throw new Error(`--${name} must be a ${positive ? 'positive ' : ''}number, got '${String(raw)}'`);
  }
  return v;
}

export function choiceFlag<T extends string>(name: string, raw: string | boolean, choices: readonly T[]): T {
  if (typeof raw !== 'string' || !(choices as readonly string[]).includes(raw)) {
    throw new Error(`--${name} must be one of ${choices.join(', ')}, got '${String(raw)}'`);
  }
  return raw as T;
}
