/**
 * Regions of several gateway instances each, as real processes (`geogate gateway`), over one
 * real redis-server per region: the instances of a region share its Redis and elect their
 * coordinator there (`coordination.enabled`). Each instance writes its log to a file in the
 * fixture's dir (shown by `logs()` when a test fails). Everything is stopped by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisProcess } from '../../infra/local/redis-process.js';
import { freePort } from '../../infra/local/ports.js';
import { TEST_SECRET } from './cluster.js';
import { PartitionMap, parseGatewayConfig } from '../../gateway/index.js';
import { partitionOfConfig } from '../checker/observe.js';

const CLI = ['--import', 'tsx', 'infra/cli/run.ts'];
const READY_WAIT_MS = 30_000;

export interface Instance {
  readonly region: string;
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly logFile: string;
  child: ChildProcess | null;
}

export interface RegionOfInstances {
  readonly region: string;
  readonly redis: RedisProcess;
  readonly prefix: string;
  readonly instances: Instance[];
  /** The region's key → partition (the history checker reads records from Redis by it). */
  partitionOf: (keyspace: string, key: string) => number;
}

export interface InstancesFixture {
  readonly regions: RegionOfInstances[];
  byName(region: string): RegionOfInstances;
  /** The witness's URL (with `witness: true`). */
  readonly witnessUrl: string | undefined;
  /** The instance the region's Redis names as coordinator now (null: none). */
  coordinator(region: string): Promise<Instance | null>;
  /** Starts an instance again after a kill (same id, port and config). */
  restart(instance: Instance): Promise<void>;
  logs(instance: Instance, lines?: number): string;
  stop(): Promise<void>;
}

export interface InstancesOptions {
  /** Instances per region, by region name. */
  readonly perRegion: Record<string, number>;
  readonly keyspaces?: unknown[];
  readonly coordination?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
  /** Run a witness (in this process) and point every instance at it. */
  readonly witness?: boolean;
  /**
   * Return only once every instance takes writes (default true): every region starts with an
   * empty Redis, so its coordinator bootstraps from the peers first, and the other instances
   * wait for the coordinator's word that its writes are open.
   */
  readonly waitWritable?: boolean;
}

/** An instance's bootstrap check passed (/readyz): its writes are open. */
async function writable(url: string): Promise<boolean> {
  try {
    const body = await (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).json() as { checks?: Array<{ name: string; ok: boolean }> };
    return body.checks?.some((c) => c.name === 'bootstrap' && c.ok) ?? false;
  } catch {
    return false;
  }
}

async function waitHealthy(url: string, child: ChildProcess, logFile: string): Promise<void> {
  const until = Date.now() + READY_WAIT_MS;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`instance at ${url} exited (${child.exitCode}): ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`instance at ${url} not healthy in ${READY_WAIT_MS} ms`);
}

export async function startInstances(o: InstancesOptions): Promise<InstancesFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'geogate-instances-'));
  const names = Object.keys(o.perRegion).sort();
  const regions: RegionOfInstances[] = [];
  for (const region of names) {
    const redis = await RedisProcess.start({ dir: mkdtempSync(join(dir, `redis-${region}-`)) });
    const instances: Instance[] = [];
    for (let i = 0; i < o.perRegion[region]!; i++) {
      const port = await freePort();
      instances.push({ region, id: `${region}-${i}`, port, url: `http://127.0.0.1:${port}`, logFile: join(dir, `${region}-${i}.log`), child: null });
    }
    regions.push({ region, redis, prefix: `mi${Math.random().toString(36).slice(2, 8)}:`, instances, partitionOf: () => 0 });
  }
  let witness: { url: string; close(): Promise<void> } | undefined;
  const keyspaces = o.keyspaces ?? [
    { name: 'orders', partitions: 8, onSplit: 'fence' },
    { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' },
  ];
  if (o.witness) {
    const witnessPort = await freePort();
    const parsed = parseGatewayConfig({ region: names[0], listen: { port: 1 }, publicUrl: 'http://x', redis: { url: 'redis://x' },
      cluster: { id: 'test', secret: TEST_SECRET, regions: names }, keyspaces }, 'witness-placement').keyspaces;
    const file = join(dir, 'witness.json');
    writeFileSync(file, JSON.stringify({
      listen: { host: '127.0.0.1', port: witnessPort },
      cluster: { id: 'test', secret: TEST_SECRET, regions: names },
      keyspaces: parsed.map((k) => {
        const map = new PartitionMap(k, names, 64);
        const sync = (k.nodes ?? []).filter((n) => n.replication === 'sync').map((n) => n.region);
        return { name: k.name, partitions: k.partitions, onSplit: k.onSplit, nodes: Array.from({ length: k.partitions }, (_, p) => map.nodeList(p).map((n) => n.region)), ...(sync.length > 0 ? { sync } : {}) };
      }),
      stateFile: join(dir, 'witness-state.json'), logLevel: 'silent',
    }));
    const { runWitness } = await import('../../witness/index.js');
    witness = await runWitness(file, { init: true });
  }
  const configFile = (inst: Instance): string => {
    const r = regions.find((x) => x.region === inst.region)!;
    const file = join(dir, `${inst.id}.json`);
    const body = {
      region: inst.region,
      listen: { host: '127.0.0.1', port: inst.port },
      publicUrl: inst.url,
      redis: { url: r.redis.url, keyPrefix: r.prefix },
      cluster: { id: 'test', secret: TEST_SECRET, regions: names },
      // links are dialled to every instance of a region in turn (its coordinator serves them);
      // clients are sent to its last instance (the first one started is the coordinator:
      // tests kill or freeze it, the last one stays)
      peers: regions.filter((x) => x.region !== inst.region).map((x) => ({
        region: x.region, url: x.instances[0]!.url, urls: x.instances.map((y) => y.url), publicUrl: x.instances.at(-1)!.url,
      })),
      keyspaces,
      ...(witness ? { witness: { url: witness.url } } : {}),
      coordination: { enabled: true, instanceId: inst.id, ...(o.coordination ?? {}) },
      ...(o.extra ?? {}),
    };
    writeFileSync(file, JSON.stringify(body));
    r.partitionOf = partitionOfConfig(parseGatewayConfig(body, file));
    return file;
  };
  const launch = async (inst: Instance): Promise<void> => {
    const fd = openSync(inst.logFile, 'a');
    const child = spawn(process.execPath, [...CLI, 'gateway', '--config', configFile(inst), '--log-level', 'info'], { stdio: ['ignore', fd, fd], env: { ...process.env } });
    closeSync(fd);
    inst.child = child;
    await waitHealthy(inst.url, child, inst.logFile);
  };
  const all = regions.flatMap((r) => r.instances);
  // one after the other: the first instance of each region claims its coordinator lease first
  for (const inst of all) await launch(inst);
  if (o.waitWritable !== false) {
    const until = Date.now() + READY_WAIT_MS;
    for (const inst of all) {
      while (!(await writable(inst.url))) {
        if (Date.now() > until) throw new Error(`instance ${inst.id} took no writes within ${READY_WAIT_MS} ms (bootstrap): ${readFileSync(inst.logFile, 'utf8').slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  const kill = async (inst: Instance): Promise<void> => {
    const c = inst.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGCONT');
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return {
    regions,
    witnessUrl: witness?.url,
    byName: (region) => regions.find((r) => r.region === region)!,
    async coordinator(region) {
      const r = regions.find((x) => x.region === region)!;
      const { Redis } = await import('ioredis');
      const c = new Redis(r.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await c.connect();
        const holder = await c.hget(`${r.prefix}coordinator`, 'holder');
        return r.instances.find((i) => i.id === holder) ?? null;
      } finally { c.disconnect(); }
    },
    restart: launch,
    logs: (inst, lines = 40) => readFileSync(inst.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n'),
    async stop() {
      await Promise.all(all.map(kill));
      for (const r of regions) await r.redis.stop();
      await witness?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` every `stepMs` until it answers true (an error counts as false); throws naming `what` after `boundMs`. */
export async function until(what: string, fn: () => Promise<boolean>, boundMs: number, stepMs = 50): Promise<void> {
  const end = Date.now() + boundMs;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`not within ${boundMs} ms: ${what}`);
}
