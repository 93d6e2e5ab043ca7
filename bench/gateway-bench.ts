/**
 * Scenario 1 — the gateway against a bare baseline, in the same run, on the same machine.
 * Two redis-servers (one each, no persistence), the baseline and one real gateway (a
 * one-region cluster, single-master keyspace) in their own processes, autocannon here.
 * Runs alternate: PUT baseline, PUT gateway, … then GET the same way.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import type { BenchOptions } from './options.js';
import { spawnServer, type ServerProcess } from './procs.js';
import { preload, runLoad, type LoadResult } from './load.js';
import { median, ratio, round } from './stats.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';

export const BENCH_KEYSPACE = 'orders';
export const BENCH_SECRET = 'bench-secret-0123456789abcdef';
export const TARGET_PUT_THROUGHPUT_RATIO_MIN = 0.85;
export const TARGET_PUT_P99_RATIO_MAX = 1.5;

type Target = 'baseline' | 'gateway';
type Kind = 'PUT' | 'GET';

export interface RunRecord extends LoadResult {
  target: Target;
  kind: Kind;
  round: number;
  /** 1-minute load average of the machine when the run ended (the machine is shared). */
  loadavg1: number;
}

export interface Aggregate {
  reqPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

export interface GatewayBenchResult {
  settings: { connections: number; durationS: number; warmupS: number; rounds: number; keysMax: number; valueBytes: number };
  runs: RunRecord[];
  /** Medians over the rounds. */
  summary: Record<Kind, { baseline: Aggregate; gateway: Aggregate; ratios: { throughput: number; p50: number; p99: number } }>;
  targets: { putThroughputRatioMin: number; putP99RatioMax: number; putThroughputMet: boolean; putP99Met: boolean };
  profile?: ProfileSummary;
  /** Redis-side cost over the whole scenario, from INFO commandstats of each server's redis-server. */
  redisCommands: Record<Target, RedisCommandStat[]>;
}

export interface RedisCommandStat { command: string; calls: number; usecPerCall: number; usecTotal: number }

async function commandStats(url: string): Promise<RedisCommandStat[]> {
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const out: RedisCommandStat[] = [];
    for (const m of (await c.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/gm)) {
      out.push({ command: m[1]!, calls: Number(m[2]), usecTotal: Number(m[3]), usecPerCall: Number(m[4]) });
    }
    return out.sort((a, b) => b.usecTotal - a.usecTotal).slice(0, 5);
  } finally {
    c.disconnect();
  }
}

export function gatewayBenchConfig(region: string, port: number, redisUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region,
    listen: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    redis: { url: redisUrl, keyPrefix: 'gg:' },
    cluster: { id: 'bench', secret: BENCH_SECRET, regions: [region] },
    keyspaces: [{ name: BENCH_KEYSPACE, partitions: 8, onSplit: 'fence' }],
    ...extra,
  };
}

const round2 = (n: number) => round(n, 2);

function aggregate(runs: RunRecord[], target: Target, kind: Kind): Aggregate {
  const sel = runs.filter((r) => r.target === target && r.kind === kind);
  return {
    reqPerS: round(median(sel.map((r) => r.reqPerS)), 0),
    latencyP50Ms: median(sel.map((r) => r.latencyP50Ms)),
    latencyP99Ms: median(sel.map((r) => r.latencyP99Ms)),
  };
}

export async function runGatewayBench(opts: BenchOptions, progress: (line: string) => void): Promise<GatewayBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'geogate-bench-'));
  const profDir = join(process.cwd(), 'bench', 'results', 'profiles', `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const stops: (() => Promise<void>)[] = [];
  try {
    const redisBase = await RedisProcess.start({ dir: join(dir, 'redis-baseline'), appendOnly: false });
    stops.push(() => redisBase.stop());
    const redisGw = await RedisProcess.start({ dir: join(dir, 'redis-gateway'), appendOnly: false });
    stops.push(() => redisGw.stop());
    const baseline = await spawnServer({ script: 'baseline', name: 'baseline', env: { BASELINE_REDIS_URL: redisBase.url, BASELINE_PORT: '0' } });
    stops.push(() => baseline.stop());
    const gwPort = await freePort();
    const gateway = await spawnServer({
      script: 'gateway', name: 'gateway', cpuProfDir: opts.cpuProf ? profDir : undefined,
      env: { GEOGATE_BENCH_CONFIG: JSON.stringify(gatewayBenchConfig('bench', gwPort, redisGw.url)) },
    });
    stops.push(() => gateway.stop());
    const servers: Record<Target, ServerProcess> = { baseline, gateway };
    progress(`servers up: baseline ${baseline.url} (pid ${baseline.pid}), gateway ${gateway.url} (pid ${gateway.pid})`);

    const load = (t: Target) => ({
      baseUrl: servers[t].url, keyspace: BENCH_KEYSPACE, keysMax: opts.keysMax, valueBytes: opts.valueBytes,
      connections: opts.connections,
    });
    for (const t of ['baseline', 'gateway'] as const) await preload(load(t));
    progress(`preloaded ${opts.keysMax} keys on each`);
    if (opts.warmupS > 0) {
      for (const t of ['baseline', 'gateway'] as const) await runLoad('PUT', { ...load(t), durationS: opts.warmupS });
      progress(`warm-up done (${opts.warmupS} s each)`);
    }

    const runs: RunRecord[] = [];
    for (const kind of ['PUT', 'GET'] as const) {
      for (let round = 1; round <= opts.rounds; round++) {
        for (const target of ['baseline', 'gateway'] as const) {
          const r = await runLoad(kind, { ...load(target), durationS: opts.durationS });
          runs.push({ ...r, target, kind, round, loadavg1: round2(loadavg()[0] ?? 0) });
          progress(`${kind} ${target.padEnd(8)} round ${round}: ${Math.round(r.reqPerS)} req/s, p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms` +
            `, load ${round2(loadavg()[0] ?? 0)}` + (r.non2xx + r.errors + r.timeouts > 0 ? `, non2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}` : ''));
        }
      }
    }

    const summary = {} as GatewayBenchResult['summary'];
    for (const kind of ['PUT', 'GET'] as const) {
      const b = aggregate(runs, 'baseline', kind);
      const g = aggregate(runs, 'gateway', kind);
      summary[kind] = {
        baseline: b, gateway: g,
        ratios: {
          throughput: round(ratio(g.reqPerS, b.reqPerS), 3),
          p50: round(ratio(g.latencyP50Ms, b.latencyP50Ms), 3),
          p99: round(ratio(g.latencyP99Ms, b.latencyP99Ms), 3),
        },
      };
    }
    const redisCommands = { baseline: await commandStats(redisBase.url), gateway: await commandStats(redisGw.url) };
    // Stop the gateway now so its CPU profile is written before we read it.
    await gateway.stop();
    let profile: ProfileSummary | undefined;
    if (opts.cpuProf) {
      // The main thread is the one that did the work (the other is tsx's loader worker).
      const busy = (p: ProfileSummary) => p.totalMs * (100 - p.idlePct);
      profile = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => summarizeProfile(join(profDir, f)))
        .sort((a, b) => busy(b) - busy(a))[0];
    }
    return {
      settings: { connections: opts.connections, durationS: opts.durationS, warmupS: opts.warmupS, rounds: opts.rounds, keysMax: opts.keysMax, valueBytes: opts.valueBytes },
      runs, summary,
      targets: {
        putThroughputRatioMin: TARGET_PUT_THROUGHPUT_RATIO_MIN, putP99RatioMax: TARGET_PUT_P99_RATIO_MAX,
        putThroughputMet: summary.PUT.ratios.throughput >= TARGET_PUT_THROUGHPUT_RATIO_MIN,
        putP99Met: summary.PUT.ratios.p99 <= TARGET_PUT_P99_RATIO_MAX,
      },
      profile, redisCommands,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
