// Minimal flag parser: `--key value`, `--key=value`, bare `--flag` (true) and positionals.

export class CliError extends Error {}

export interface CliArgs {
  positional: string[];
  flags: Record<string, string | true>;
  /** String flag or default; throws a CliError if required and missing. */
  str(name: string, def?: string): string;
  /** Numeric flag or default; rejects non-numbers with a clear message. */
  num(name: string, def?: number): number;
  bool(name: string): boolean;
  has(name: string): boolean;
}

export function parseArgs(argv: string[]): CliArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[a.slice(2)] = argv[++i];
    else flags[a.slice(2)] = true;
  }
  return {
    positional,
    flags,
    str(name, def) {
      const v = flags[name];
      if (typeof v === 'string') return v;
      if (def !== undefined) return def;
      throw new CliError(`missing --${name}`);
    },
    num(name, def) {
      const v = flags[name];
      if (v === undefined) {
        if (def !== undefined) return def;
        throw new CliError(`missing --${name}`);
      }
      const n = Number(v);
      if (v === true || !Number.isFinite(n)) throw new CliError(`--${name} must be a number, got "${v}"`);
      return n;
    },
    bool: (name) => flags[name] === true || flags[name] === 'true',
    has: (name) => name in flags,
  };
}
