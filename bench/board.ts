/**
 * The coordinator's board in an idle region (no client traffic), same machine: east runs two
 * instances over its Redis (east-0 the coordinator, east-1 reading the board), west one, with
 * a witness, a fence keyspace of N partitions homed in east (east holds every lease). Per N,
 * over a window with one coordinator throughout: east's redis-server CPU (INFO cpu) and bytes
 * sent to all clients (INFO stats), the board's commands' share of Redis's time (commandstats:
 * hgetall, hset, hdel, hmget, lrange, lpush, ltrim), the bytes east-1 read (rchar of
 * /proc/<pid>/io: its Redis connections, nearly all of its reads when idle) and the CPU of
 * east's two gateways. The coordination lease is 4000/500 (see design-notes, "The board's
 * cost": with 4096 leases the default 1000/250 loses its claim on a loaded machine).
 * Run: node --import tsx bench/board.ts [partitions...]   (default 16 4096)
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startInstances } from '../test/helpers/instances.js';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const WINDOW_MS = 4000;
const WINDOWS_MAX = 8;
const BOARD_COMMANDS = ['hgetall', 'hset', 'hdel', 'hmget', 'lrange', 'lpush', 'ltrim'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const procCpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const procReadBytes = (pid: number): number => Number(/^rchar: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);

async function redisSample(c: Redis) {
  const [cpu, stats, cmd] = [await c.info('cpu'), await c.info('stats'), await c.info('commandstats')];
  const num = (text: string, name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(text)?.[1] ?? 0);
  let boardUsec = 0;
  for (const m of cmd.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) if (BOARD_COMMANDS.includes(m[1]!)) boardUsec += Number(m[3]);
  return { cpuMs: (num(cpu, 'used_cpu_user') + num(cpu, 'used_cpu_sys')) * 1000, netOut: num(stats, 'total_net_output_bytes'), commands: num(stats, 'total_commands_processed'), boardUsec };
}

async function measure(partitions: number) {
  const f = await startInstances({ perRegion: { east: 2, west: 1 }, witness: true, coordination: { leaseMs: 4000, renewMs: 500 },
    keyspaces: [{ name: 'orders', partitions, onSplit: 'fence', rotateHomes: false }] });
  try {
    const [e0, e1] = f.byName('east').instances;
    const until = Date.now() + 120_000;
    for (;;) {
      const s = await (await fetch(`${e1!.url}/v1/status`)).json() as any;
      if (s.keyspaces.find((k: any) => k.name === 'orders').partitions.filter((p: any) => p.state === 'active').length === partitions) break;
      if (Date.now() > until) throw new Error(`${partitions}: east-1 never saw every partition active`);
      await sleep(200);
    }
    await sleep(1000);
    const c = new Redis(f.byName('east').redis.url);
    const pre = f.byName('east').prefix;
    const term = async () => `${await c.hget(`${pre}coordinator`, 'token')}`;
    try {
      for (let w = 0; w < WINDOWS_MAX; w++) {
        const t = await term();
        const pids = [e0!.child!.pid!, e1!.child!.pid!];
        const g0 = pids.map(procCpuMs);
        const r0 = procReadBytes(pids[1]!);
        const a = await redisSample(c);
        const t0 = performance.now();
        await sleep(WINDOW_MS);
        const b = await redisSample(c);
        const ms = performance.now() - t0;
        const g1 = pids.map(procCpuMs);
        const r1 = procReadBytes(pids[1]!);
        if (await term() !== t) { await sleep(2000); continue; }
        return {
          partitions, windows: w + 1,
          redisCpuPct: (100 * (b.cpuMs - a.cpuMs)) / ms, boardPctOfRedis: (100 * (b.boardUsec - a.boardUsec)) / 1000 / ms,
          redisBytesOutPerS: Math.round(((b.netOut - a.netOut) * 1000) / ms), commandsPerS: Math.round(((b.commands - a.commands) * 1000) / ms),
          east1ReadBytesPerS: Math.round(((r1 - r0) * 1000) / ms),
          coordinatorCpuPct: (100 * (g1[0]! - g0[0]!)) / ms, east1CpuPct: (100 * (g1[1]! - g0[1]!)) / ms,
        };
      }
      throw new Error(`${partitions}: no window with one coordinator in ${WINDOWS_MAX}`);
    } finally { c.disconnect(); }
  } finally { await f.stop(); }
}

for (const n of sizes.length > 0 ? sizes : [16, 4096]) console.log(JSON.stringify(await measure(n)));
