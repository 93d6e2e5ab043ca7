/**
 * Several gateway instances per region (issue 15), same run, same machine: east replicating
 * to west, with a witness, gateways as processes (`geogate gateway`). Rounds alternate between
 *   one    east = 1 instance (coordination off: today's region)
 *   two    east = 2 instances (coordination on), the PUTs spread over both
 * each round IN_FLIGHT concurrent PUT loops (keep-alive) for `writesPerRound` writes of the
 * multi-master keyspace; reported: PUT/s, and the CPU (user + system, /proc) of east's gateway
 * processes and of east's redis-server per write. Then the coordinator's failover: east with 2
 * instances, the coordinator SIGKILLed FAILOVERS times (started again in between), the time
 * from the kill to the other instance saying it coordinates (polled every 10 ms).
 * Run: node --import tsx bench/instances.ts [rounds] [writesPerRound]
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startInstances, type Instance, type InstancesFixture } from '../test/helpers/instances.js';

const rounds = Number(process.argv[2] ?? 3);
const writesPerRound = Number(process.argv[3] ?? 6000);
const IN_FLIGHT = 32;
const FAILOVERS = Number(process.env.BENCH_FAILOVERS ?? 10);
const TICKS_PER_S = 100;

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

async function ready(f: InstancesFixture): Promise<void> {
  const e0 = f.byName('east').instances[0]!;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const s = await (await fetch(`${e0.url}/v1/status`)).json() as any;
    if (s.peers?.every((p: any) => p.state === 'up') && s.bootstrap?.writesOpen !== false) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('east not ready');
}

async function load(targets: readonly Instance[], n: number, tag: string, failuresOk = false): Promise<{ ms: number; failed: number }> {
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, c) => {
    const target = targets[c % targets.length]!;
    while (next < n) {
      const i = next++;
      const res = await fetch(`${target.url}/v1/kv/carts/${tag}-${i % 2000}`, { method: 'PUT', body: `v${i}` });
      await res.arrayBuffer();
      if (res.status >= 300) failed++;
    }
  }));
  // more than 1 % refused: the round measures something else than writes
  if (failed > n / 100 && !failuresOk) throw new Error(`${failed} of ${n} writes failed (${tag})`);
  return { ms: performance.now() - t0, failed };
}

interface Round { mode: 'one' | 'two'; failed: number; putsPerS: number; gatewayCpuMsPerWrite: number; redisCpuMsPerWrite: number }

async function round(mode: 'one' | 'two', r: number): Promise<Round> {
  const f = await startInstances({ perRegion: { east: mode === 'one' ? 1 : 2, west: 1 }, witness: true,
    ...(mode === 'one' ? { coordination: { enabled: false } } : {}) });
  try {
    await ready(f);
    const east = f.byName('east');
    const pids = east.instances.map((i) => i.child!.pid!);
    const rpid = await redisPid(east.redis.url);
    // warm-up (unmeasured; on a loaded machine the instance that is not the coordinator may still
    // answer 503 until its board holds every partition)
    await load(east.instances, 500, `warm${r}`, true);
    const g0 = pids.reduce((s, p) => s + cpuMs(p), 0);
    const r0 = cpuMs(rpid);
    const { ms, failed } = await load(east.instances, writesPerRound, `${mode}${r}`);
    const g1 = pids.reduce((s, p) => s + cpuMs(p), 0);
    const r1 = cpuMs(rpid);
    return { mode, failed, putsPerS: (writesPerRound * 1000) / ms, gatewayCpuMsPerWrite: (g1 - g0) / writesPerRound, redisCpuMsPerWrite: (r1 - r0) / writesPerRound };
  } finally {
    await f.stop();
  }
}

async function failovers(): Promise<number[]> {
  const f = await startInstances({ perRegion: { east: 2, west: 1 } });
  const out: number[] = [];
  try {
    for (let i = 0; i < FAILOVERS; i++) {
      const holder = await f.coordinator('east');
      if (!holder) { await new Promise((r) => setTimeout(r, 200)); i--; continue; }
      const other = f.byName('east').instances.find((x) => x !== holder)!;
      const t0 = Date.now();
      holder.child!.kill('SIGKILL');
      for (;;) {
        const s = await (await fetch(`${other.url}/v1/status`)).json() as any;
        if (s.coordination?.role === 'coordinator') break;
        if (Date.now() - t0 > 10_000) throw new Error('no takeover in 10 s');
        await new Promise((r) => setTimeout(r, 10));
      }
      out.push(Date.now() - t0);
      await f.restart(holder);
    }
  } finally {
    await f.stop();
  }
  return out;
}

const rows: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const order: ('one' | 'two')[] = r % 2 === 0 ? ['one', 'two'] : ['two', 'one'];
  for (const mode of order) {
    const row = await round(mode, r);
    rows.push(row);
    process.stderr.write(`[instances] round ${r} ${mode}: ${row.putsPerS.toFixed(0)} PUT/s, gateway ${row.gatewayCpuMsPerWrite.toFixed(3)} ms CPU/write, redis ${row.redisCpuMsPerWrite.toFixed(3)} ms CPU/write, ${row.failed} refused\n`);
  }
}
const mean = (mode: 'one' | 'two', k: keyof Omit<Round, 'mode' | 'failed'>) => { const xs = rows.filter((x) => x.mode === mode).map((x) => x[k]); return xs.reduce((a, b) => a + b, 0) / xs.length; };
const total = (mode: 'one' | 'two') => mean(mode, 'gatewayCpuMsPerWrite') + mean(mode, 'redisCpuMsPerWrite');
const fo = (await failovers()).sort((a, b) => a - b);
const pct = (p: number) => fo[Math.min(fo.length - 1, Math.floor(fo.length * p))]!;
console.log(JSON.stringify({
  rounds, writesPerRound, inFlight: IN_FLIGHT,
  putsPerS: { one: mean('one', 'putsPerS'), two: mean('two', 'putsPerS'), ratio: mean('two', 'putsPerS') / mean('one', 'putsPerS') },
  cpuMsPerWrite: {
    one: { gateway: mean('one', 'gatewayCpuMsPerWrite'), redis: mean('one', 'redisCpuMsPerWrite'), total: total('one') },
    two: { gateway: mean('two', 'gatewayCpuMsPerWrite'), redis: mean('two', 'redisCpuMsPerWrite'), total: total('two') },
    ratio: total('two') / total('one'),
  },
  failoverMs: { runs: fo.length, p50: pct(0.5), p99: pct(0.99), max: fo.at(-1), all: fo },
}, null, 2));
