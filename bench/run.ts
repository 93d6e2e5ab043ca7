/**
 * geogate benchmarks: `npm run bench -- [--only gateway|replication] [--duration-s N] [--connections N] …`
 *   gateway      the gateway against a bare hono + ioredis baseline (same run, alternated)
 *   replication  east -> west replication against Redis REPLICAOF (same run, same driver)
 * Prints tables and writes bench/results/latest.json. See docs/benchmarks.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseBenchOptions } from './options.js';
import { runGatewayBench, type GatewayBenchResult } from './gateway-bench.js';
import { runReplicationBench, ReplicationUnavailableError, type ReplicationBenchResult } from './replication-bench.js';
import { gatewayReport, replicationReport } from './report.js';

/** Hard stop for the whole run, whatever hangs. */
export const RUN_TIMEOUT_MS = 20 * 60_000;

const opts = parseBenchOptions(process.argv.slice(2));
const startedAt = new Date().toISOString();
const progress = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const watchdog = setTimeout(() => {
  progress(`run exceeded ${RUN_TIMEOUT_MS / 60_000} min; exiting`);
  process.exit(2);
}, RUN_TIMEOUT_MS);
watchdog.unref();

function commit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const result: {
  startedAt: string; commit: string | null; machine: Record<string, unknown>; options: typeof opts;
  gateway?: GatewayBenchResult; replication?: ReplicationBenchResult | { error: string };
} = {
  startedAt, commit: commit(), options: opts,
  machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavgAtStart: loadavg() },
};

let exitCode = 0;
if (opts.only === 'all' || opts.only === 'gateway') {
  result.gateway = await runGatewayBench(opts, progress);
}
if (opts.only === 'all' || opts.only === 'replication') {
  try {
    result.replication = await runReplicationBench(opts, progress);
  } catch (err) {
    if (!(err instanceof ReplicationUnavailableError)) throw err;
    progress(err.message);
    result.replication = { error: err.message };
    exitCode = 3;
  }
}

mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
const sections: string[] = [];
if (result.gateway) sections.push(gatewayReport(result.gateway));
if (result.replication && !('error' in result.replication)) sections.push(replicationReport(result.replication));
if (result.replication && 'error' in result.replication) sections.push(`Replication: ${result.replication.error}`);
process.stdout.write(`\n${sections.join('\n\n')}\n\nresults: ${opts.out}\n`);
clearTimeout(watchdog);
process.exit(exitCode);
