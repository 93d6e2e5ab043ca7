/** Command-line options of `npm run bench -- …`, validated once; an error names the flag. */
import { parseArgs } from 'node:util';

export const DEFAULT_DURATION_S = 8;
export const DEFAULT_WARMUP_S = 2;
export const DEFAULT_CONNECTIONS = 64;
export const DEFAULT_ROUNDS = 2;
export const DEFAULT_KEYS_MAX = 10_000;
export const DEFAULT_VALUE_BYTES = 64;
export const DEFAULT_REPLICATION_RATE_PER_S = 2000;

export interface BenchOptions {
  only: 'all' | 'gateway' | 'replication';
  durationS: number;
  warmupS: number;
  connections: number;
  /** Baseline/gateway pairs, alternated (baseline, gateway, baseline, gateway, …). */
  rounds: number;
  keysMax: number;
  valueBytes: number;
  replicationRatePerS: number;
  /** Write a CPU profile of the gateway child (bench/results/profiles). */
  cpuProf: boolean;
  out: string;
}

const USAGE = `usage: npm run bench -- [--only gateway|replication] [--duration-s N] [--warmup-s N]
  [--connections N] [--rounds N] [--rate N] [--cpu-prof] [--out FILE]`;

function intFlag(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in [${min}, ${max}], got "${raw}"\n${USAGE}`);
  return n;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      'duration-s': { type: 'string' },
      'warmup-s': { type: 'string' },
      connections: { type: 'string' },
      rounds: { type: 'string' },
      rate: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = values.only ?? 'all';
  if (only !== 'all' && only !== 'gateway' && only !== 'replication') throw new Error(`--only: expected gateway or replication, got "${only}"\n${USAGE}`);
  return {
    only,
    durationS: intFlag('duration-s', values['duration-s'], DEFAULT_DURATION_S, 1, 600),
    warmupS: intFlag('warmup-s', values['warmup-s'], DEFAULT_WARMUP_S, 0, 60),
    connections: intFlag('connections', values.connections, DEFAULT_CONNECTIONS, 1, 4096),
    rounds: intFlag('rounds', values.rounds, DEFAULT_ROUNDS, 1, 10),
    keysMax: DEFAULT_KEYS_MAX,
    valueBytes: DEFAULT_VALUE_BYTES,
    replicationRatePerS: intFlag('rate', values.rate, DEFAULT_REPLICATION_RATE_PER_S, 1, 100_000),
    cpuProf: values['cpu-prof'] ?? false,
    out: values.out ?? 'bench/results/latest.json',
  };
}
