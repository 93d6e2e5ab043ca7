/**
 * Several gateway instances per region (issue 15), same run, same machine: east replicating
 * to west, with a witness, gateways as processes (`geogate gateway`). Rounds alternate between
 *   one    east = 1 instance (coordination off: today's region)
 *   two    east = 2 instances (coordination on), the PUTs spread over both
 * and, with BENCH_TREES, between source trees (the gateways run from each tree in turn, in
 * the same run: `BENCH_TREES=old=/path/a,new=/path/b`; default: this tree). Each round:
 *  - idle: the CPU (user + system, /proc) of each of east's gateway processes and of east's
 *    redis-server per second, nothing written (the fixed cost of an instance);
 *  - load: IN_FLIGHT concurrent PUT loops (keep-alive) for `writesPerRound` writes of the
 *    multi-master keyspace; PUT/s and the CPU of east's gateways and redis-server per write;
 *  - lag (two only): LAG_PROBES writes one at a time at the instance that is not the
 *    coordinator, each read back at west until it is there (from the PUT's answer), once idle
 *    and once under a background load of LAG_LOAD_IN_FLIGHT PUT loops over both instances.
 * Then, with BENCH_FAILOVERS > 0 (default 0), the coordinator's failover: east with 2
 * instances, the coordinator SIGKILLed that many times (started again in between), the time
 * from the kill to the other instance saying it coordinates (polled every 10 ms).
 * Run: node --import tsx bench/instances.ts [rounds] [writesPerRound]
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startInstances, type Instance, type InstancesFixture } from '../test/helpers/instances.js';

const rounds = Number(process.argv[2] ?? 3);
const writesPerRound = Number(process.argv[3] ?? 6000);
const IN_FLIGHT = 32;
const IDLE_MS = 4000;
const LAG_PROBES = Number(process.env.BENCH_LAG_PROBES ?? 100);
const LAG_LOAD_IN_FLIGHT = 8;
/** A probe not at west after this long counts as this (and the round says so). */
const LAG_GIVE_UP_MS = 5000;
const FAILOVERS = Number(process.env.BENCH_FAILOVERS ?? 0);
/** A round with more refused writes than this share measures something else than writes: it stops the run. */
const REFUSED_MAX_SHARE = 0.5;
const TICKS_PER_S = 100;
const trees: { name: string; dir: string }[] = (process.env.BENCH_TREES ?? `this=${process.cwd()}`).split(',').map((t) => {
  const cut = t.indexOf('=');
  return cut > 0 ? { name: t.slice(0, cut), dir: t.slice(cut + 1) } : { name: t, dir: t };
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** user + system CPU of a process, ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

async function redisPid(url: string): Promise<number> {
  const c = new Redis(url, { lazyConnect: true });
  await c.connect();
  const info = await c.info('server');
  c.disconnect();
  return Number(/process_id:(\d+)/.exec(info)![1]);
}

async function ready(f: InstancesFixture, coordinated: boolean): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const holder = coordinated ? await f.coordinator('east') : f.byName('east').instances[0]!;
    if (holder) {
      const s = await (await fetch(`${holder.url}/v1/status`)).json() as any;
      if (s.peers?.every((p: any) => p.state === 'up') && s.bootstrap?.writesOpen !== false) return;
    }
    await sleep(100);
  }
  throw new Error('east not ready');
}

/** PUT loops over `targets` until `n` writes or `stop()`; refused writes counted. */
async function load(targets: readonly Instance[], n: number, tag: string, inFlight = IN_FLIGHT, stop: () => boolean = () => false): Promise<{ ms: number; done: number; failed: number; codes: Record<string, number> }> {
  let next = 0;
  let failed = 0;
  const codes: Record<string, number> = {};
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async (_, c) => {
    const target = targets[c % targets.length]!;
    while (next < n && !stop()) {
      const i = next++;
      try {
        const res = await fetch(`${target.url}/v1/kv/carts/${tag}-${i % 2000}`, { method: 'PUT', body: `v${i}` });
        const text = await res.text();
        if (res.status >= 300) {
          failed++;
          const code = `${res.status} ${/"code":"([^"]+)"/.exec(text)?.[1] ?? ''}`;
          codes[code] = (codes[code] ?? 0) + 1;
        }
      } catch { failed++; codes.error = (codes.error ?? 0) + 1; }
    }
  }));
  return { ms: performance.now() - t0, done: next, failed, codes };
}

/** Writes at `writer` one at a time, each read back at `reader` until there: ms from the PUT's answer. */
async function lagProbes(writer: Instance, reader: Instance, tag: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < LAG_PROBES; i++) {
    const key = `${tag}-${i}`;
    const body = `p${i}-${Math.random().toString(36).slice(2)}`;
    const res = await fetch(`${writer.url}/v1/kv/carts/${key}`, { method: 'PUT', body });
    await res.arrayBuffer();
    if (res.status < 300) {
      const t0 = performance.now();
      for (;;) {
        const g = await fetch(`${reader.url}/v1/kv/carts/${key}`);
        const text = await g.text();
        if (g.status === 200 && text === body) { out.push(performance.now() - t0); break; }
        if (performance.now() - t0 > LAG_GIVE_UP_MS) { out.push(LAG_GIVE_UP_MS); break; }
      }
    }
    await sleep(Math.random() * 20); // land at any phase of the coordinator's rounds
  }
  return out;
}

const pct = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};

interface Round {
  tree: string; mode: 'one' | 'two'; failed: number; codes: Record<string, number>; putsPerS: number; gatewayCpuMsPerWrite: number; redisCpuMsPerWrite: number;
  /** Idle CPU ms per s: east's gateway processes (coordinator first), east's redis-server. */
  idleGatewayMsPerS: number[]; idleRedisMsPerS: number;
  lagIdleMs: number[]; lagLoadedMs: number[];
}

async function round(tree: { name: string; dir: string }, mode: 'one' | 'two', r: number): Promise<Round> {
  process.chdir(tree.dir); // the gateways run from this tree's sources
  const f = await startInstances({ perRegion: { east: mode === 'one' ? 1 : 2, west: 1 }, witness: true,
    ...(mode === 'one' ? { coordination: { enabled: false } } : {}) });
  try {
    await ready(f, mode === 'two');
    const east = f.byName('east');
    const west = f.byName('west').instances[0]!;
    const holder = mode === 'one' ? east.instances[0]! : (await f.coordinator('east')) ?? east.instances[0]!;
    const others = east.instances.filter((i) => i !== holder);
    const ordered = [holder, ...others];
    const pids = ordered.map((i) => i.child!.pid!);
    const rpid = await redisPid(east.redis.url);
    // warm-up (unmeasured; on a loaded machine the instance that is not the coordinator may still
    // answer 503 until its board holds every partition)
    await load(east.instances, 500, `warm${r}`);
    await sleep(1000);
    const i0 = pids.map(cpuMs);
    const ri0 = cpuMs(rpid);
    const it0 = performance.now();
    await sleep(IDLE_MS);
    const idleS = (performance.now() - it0) / 1000;
    const idleGatewayMsPerS = pids.map((p, k) => (cpuMs(p) - i0[k]!) / idleS);
    const idleRedisMsPerS = (cpuMs(rpid) - ri0) / idleS;
    const g0 = pids.reduce((s, p) => s + cpuMs(p), 0);
    const r0 = cpuMs(rpid);
    const { ms, failed, codes } = await load(east.instances, writesPerRound, `${tree.name}${mode}${r}`);
    const g1 = pids.reduce((s, p) => s + cpuMs(p), 0);
    const r1 = cpuMs(rpid);
    if (failed > writesPerRound * REFUSED_MAX_SHARE) throw new Error(`${failed} of ${writesPerRound} writes refused (${tree.name} ${mode} ${r})`);
    let lagIdleMs: number[] = [];
    let lagLoadedMs: number[] = [];
    if (others.length > 0 && LAG_PROBES > 0) {
      await sleep(500);
      lagIdleMs = await lagProbes(others[0]!, west, `lagi${r}`);
      let stopped = false;
      const bg = load(east.instances, Number.MAX_SAFE_INTEGER, `lagbg${r}`, LAG_LOAD_IN_FLIGHT, () => stopped);
      await sleep(500);
      lagLoadedMs = await lagProbes(others[0]!, west, `lagl${r}`);
      stopped = true;
      await bg;
    }
    return {
      tree: tree.name, mode, failed, codes, putsPerS: (writesPerRound * 1000) / ms,
      gatewayCpuMsPerWrite: (g1 - g0) / writesPerRound, redisCpuMsPerWrite: (r1 - r0) / writesPerRound,
      idleGatewayMsPerS, idleRedisMsPerS, lagIdleMs, lagLoadedMs,
    };
  } finally {
    await f.stop();
  }
}

async function failovers(tree: { dir: string }): Promise<number[]> {
  process.chdir(tree.dir);
  const f = await startInstances({ perRegion: { east: 2, west: 1 } });
  const out: number[] = [];
  try {
    for (let i = 0; i < FAILOVERS; i++) {
      const holder = await f.coordinator('east');
      if (!holder) { await sleep(200); i--; continue; }
      const other = f.byName('east').instances.find((x) => x !== holder)!;
      const t0 = Date.now();
      holder.child!.kill('SIGKILL');
      for (;;) {
        const s = await (await fetch(`${other.url}/v1/status`)).json() as any;
        if (s.coordination?.role === 'coordinator') break;
        if (Date.now() - t0 > 10_000) throw new Error('no takeover in 10 s');
        await sleep(10);
      }
      out.push(Date.now() - t0);
      await f.restart(holder);
    }
  } finally {
    await f.stop();
  }
  return out;
}

const f1 = (x: number) => Math.round(x * 10) / 10;
const f3 = (x: number) => Math.round(x * 1000) / 1000;
const rows: Round[] = [];
for (let r = 0; r < rounds; r++) {
  // alternate the order of trees and modes from round to round
  const ts = r % 2 === 0 ? trees : [...trees].reverse();
  for (const [k, tree] of ts.entries()) {
    const modes: ('one' | 'two')[] = (r + k) % 2 === 0 ? ['one', 'two'] : ['two', 'one'];
    for (const mode of modes) {
      const row = await round(tree, mode, r);
      rows.push(row);
      process.stderr.write(`[instances] round ${r} ${tree.name} ${mode}: ${row.putsPerS.toFixed(0)} PUT/s, gateway ${row.gatewayCpuMsPerWrite.toFixed(3)} ms CPU/write, redis ${row.redisCpuMsPerWrite.toFixed(3)}, ${row.failed} refused ${JSON.stringify(row.codes)}; idle gateways ${row.idleGatewayMsPerS.map((x) => x.toFixed(0)).join('+')} ms/s, redis ${row.idleRedisMsPerS.toFixed(0)} ms/s${row.lagIdleMs.length > 0 ? `; lag idle p50 ${pct(row.lagIdleMs, 0.5).toFixed(1)} p99 ${pct(row.lagIdleMs, 0.99).toFixed(1)}, loaded p50 ${pct(row.lagLoadedMs, 0.5).toFixed(1)} p99 ${pct(row.lagLoadedMs, 0.99).toFixed(1)} ms` : ''}\n`);
    }
  }
}
const of = (tree: string, mode: 'one' | 'two') => rows.filter((x) => x.tree === tree && x.mode === mode);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const summary: Record<string, unknown> = {};
for (const { name } of trees) {
  const total = (mode: 'one' | 'two') => mean(of(name, mode).map((x) => x.gatewayCpuMsPerWrite + x.redisCpuMsPerWrite));
  const two = of(name, 'two');
  const lagIdle = two.flatMap((x) => x.lagIdleMs);
  const lagLoaded = two.flatMap((x) => x.lagLoadedMs);
  summary[name] = {
    putsPerS: { one: f1(mean(of(name, 'one').map((x) => x.putsPerS))), two: f1(mean(two.map((x) => x.putsPerS))) },
    cpuMsPerWrite: {
      one: { gateway: f3(mean(of(name, 'one').map((x) => x.gatewayCpuMsPerWrite))), redis: f3(mean(of(name, 'one').map((x) => x.redisCpuMsPerWrite))), total: f3(total('one')) },
      two: { gateway: f3(mean(two.map((x) => x.gatewayCpuMsPerWrite))), redis: f3(mean(two.map((x) => x.redisCpuMsPerWrite))), total: f3(total('two')) },
      ratio: f3(total('two') / total('one')),
      ratioPerRound: two.map((t, r) => {
        const o = of(name, 'one')[r]!;
        return f3((t.gatewayCpuMsPerWrite + t.redisCpuMsPerWrite) / (o.gatewayCpuMsPerWrite + o.redisCpuMsPerWrite));
      }),
    },
    refused: { one: of(name, 'one').map((x) => x.failed), two: two.map((x) => x.failed) },
    idleMsPerS: {
      one: { gateway: f1(mean(of(name, 'one').map((x) => x.idleGatewayMsPerS[0]!))), redis: f1(mean(of(name, 'one').map((x) => x.idleRedisMsPerS))) },
      two: { coordinator: f1(mean(two.map((x) => x.idleGatewayMsPerS[0]!))), other: f1(mean(two.map((x) => x.idleGatewayMsPerS[1] ?? 0))), redis: f1(mean(two.map((x) => x.idleRedisMsPerS))) },
    },
    lagMs: {
      idle: { n: lagIdle.length, p50: f1(pct(lagIdle, 0.5)), p99: f1(pct(lagIdle, 0.99)) },
      loaded: { n: lagLoaded.length, p50: f1(pct(lagLoaded, 0.5)), p99: f1(pct(lagLoaded, 0.99)) },
    },
  };
  if (FAILOVERS > 0) {
    const fo = (await failovers(trees.find((t) => t.name === name)!)).sort((a, b) => a - b);
    (summary[name] as Record<string, unknown>).failoverMs = { runs: fo.length, p50: pct(fo, 0.5), p99: pct(fo, 0.99), max: fo.at(-1), all: fo };
  }
}
console.log(JSON.stringify({ rounds, writesPerRound, inFlight: IN_FLIGHT, trees: trees.map((t) => t.name), summary }, null, 2));
