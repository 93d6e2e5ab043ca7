/**
 * Test fixtures: real redis-server processes on random loopback ports and gateways in front
 * of them, each with its own temp dir and key prefix; everything is stopped by `stop()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisProcess } from '../../infra/local/redis-process.js';
import { freePort } from '../../infra/local/ports.js';
import { PartitionMap, parseGatewayConfig, startGateway, type GatewayConfig, type RunningGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

/** How long startCluster waits for the regions' first bootstrap. */
export const BOOTSTRAP_WAIT_MS = 15_000;
export const TEST_SECRET = 'test-secret-0123456789abcdef';

export interface RegionFixture {
  region: string;
  redis: RedisProcess;
  gateway: RunningGateway;
  config: GatewayConfig;
}

export async function startRedis(): Promise<{ redis: RedisProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'geogate-redis-'));
  return { redis: await RedisProcess.start({ dir }), dir };
}

export function baseConfig(region: string, regions: string[], redisUrl: string, port: number, extra: Record<string, unknown> = {}): GatewayConfig {
  return parseGatewayConfig({
    region,
    listen: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    redis: { url: redisUrl, keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:` },
    cluster: { id: 'test', secret: TEST_SECRET, regions },
    keyspaces: [
      { name: 'orders', partitions: 8, onSplit: 'fence' },
      { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' },
    ],
    ...extra,
  }, 'test-config');
}

/** One region with its own redis-server and gateway. */
export async function startRegion(region: string, regions: string[] = [region], extra: Record<string, unknown> = {}): Promise<RegionFixture & { stop(): Promise<void> }> {
  const { redis, dir } = await startRedis();
  const port = await freePort();
  const config = baseConfig(region, regions, redis.url, port, extra);
  const gateway = await startGateway(config, { log: silentLogger() });
  return {
    region, redis, gateway, config,
    async stop() {
      await gateway.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One gateway instance of a region of several (`gatewaysPerRegion`). */
export interface InstanceFixture {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly config: GatewayConfig;
  gateway: RunningGateway;
}

export interface ClusterFixture {
  /**
   * `gateway`, `config` and `port` are the region's first instance's; `instances` lists all of
   * them (one without `gatewaysPerRegion`).
   */
  regions: (RegionFixture & { port: number; dir: string; instances: InstanceFixture[] })[];
  relays: import('../../infra/wan/index.js').WanRelay[];
  byName(region: string): RegionFixture & { port: number; dir: string; instances: InstanceFixture[] };
  /** The region's instance that runs the coordinator role now (its replicator is there), or undefined. */
  coordinatorOf(region: string): InstanceFixture | undefined;
  /** Stops and starts one region's gateway (its first instance; its Redis keeps running). */
  restartGateway(region: string): Promise<void>;
  /** Stops every gateway instance of the region (its Redis keeps running). */
  stopRegion(region: string): Promise<void>;
  /** Starts every instance of the region again (stopped first if running), the first one first. */
  restartRegion(region: string): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Put a WAN relay on every directed link (A dials B through relay "A->B", A reaches the witness through "A->witness"). */
  wan?: boolean;
  /** Start a witness (in this process) and point every gateway at it. */
  witness?: boolean;
  extra?: Record<string, unknown>;
  perRegion?: (region: string) => Record<string, unknown>;
  /** Return only once every region takes writes (its first bootstrap done); default true. */
  waitWritable?: boolean;
  /**
   * Gateway instances per region (default 1): with more, every instance of a region shares its
   * Redis with `coordination.enabled` (instance ids `<region>-<k>`, the first started first, so
   * it is the first coordinator), and each peer lists every instance in `peers[].urls`, each
   * through its own relay with `wan` (`<from>-><to>#<k>` for k > 0).
   */
  gatewaysPerRegion?: number;
}

/**
 * N regions fully meshed: a redis-server and a gateway each; with `wan`, every peer URL goes
 * through its own WanRelay so a test can cut or delay a link.
 */
export interface ClusterControls {
  /** The relay from `from` to `to`'s first instance. */
  relay(from: string, to: string): import('../../infra/wan/index.js').WanRelay;
  /** Every relay from `from` to an instance of `to`. */
  relaysTo(from: string, to: string): import('../../infra/wan/index.js').WanRelay[];
  /** Cuts both directions of every relay between a and b (blackhole). */
  cutLink(a: string, b: string): void;
  stopWitness(): Promise<void>;
  startWitness(): Promise<void>;
  isolate(region: string): void;
  healAll(): void;
  stopGateway(name: string): Promise<void>;
}

export async function startCluster(names: string[], opts: ClusterOptions = {}): Promise<ClusterFixture & ClusterControls> {
  const { WanRelay } = await import('../../infra/wan/index.js');
  const perRegion = opts.gatewaysPerRegion ?? 1;
  // ports of every instance of a region; `ports` is each region's first
  const instancePorts = new Map<string, number[]>();
  for (const n of names) {
    const list: number[] = [];
    for (let k = 0; k < perRegion; k++) list.push(await freePort());
    instancePorts.set(n, list);
  }
  const ports = new Map<string, number>(names.map((n) => [n, instancePorts.get(n)![0]!]));
  const relays = new Map<string, InstanceType<typeof WanRelay>>();
  const relayPorts = new Map<string, number>();
  const linkName = (a: string, b: string, k: number) => (k === 0 ? `${a}->${b}` : `${a}->${b}#${k}`);
  const endsOf = (link: string) => {
    const [from, rest] = link.split('->') as [string, string];
    return { from, to: rest.split('#')[0]! };
  };
  if (opts.wan) {
    for (const a of names) for (const b of names) {
      if (a === b) continue;
      for (const [k, port] of instancePorts.get(b)!.entries()) {
        const relay = new WanRelay({ listen: { host: '127.0.0.1', port: await freePort() }, target: { host: '127.0.0.1', port } });
        relayPorts.set(linkName(a, b, k), (await relay.start()).port);
        relays.set(linkName(a, b, k), relay);
      }
    }
  }
  const prefix = `c${Math.random().toString(36).slice(2, 8)}:`;
  const witnessDir = mkdtempSync(join(tmpdir(), 'geogate-witness-'));
  const witnessPort = await freePort();
  const witnessConfigFile = join(witnessDir, 'witness.json');
  let witness: { url: string; close(): Promise<void> } | undefined;
  // init only on the first start (a new cluster); a restart must find the state file
  let witnessStarted = false;
  const startWitness = async () => {
    const { runWitness } = await import('../../witness/index.js');
    witness = await runWitness(witnessConfigFile, { init: !witnessStarted });
    witnessStarted = true;
  };
  if (opts.witness) {
    // the witness's placement follows the gateways' (node lists, sync replicas)
    const keyspaces = baseConfig(names[0]!, names, 'redis://x', 1, opts.extra ?? {}).keyspaces;
    writeFileSync(witnessConfigFile, JSON.stringify({
      listen: { host: '127.0.0.1', port: witnessPort },
      cluster: { id: 'test', secret: TEST_SECRET, regions: names },
      keyspaces: keyspaces.map((k) => {
        const map = new PartitionMap(k, names, 64);
        const sync = (k.nodes ?? []).filter((n) => n.replication === 'sync').map((n) => n.region);
        return {
          name: k.name, partitions: k.partitions, onSplit: k.onSplit,
          nodes: Array.from({ length: k.partitions }, (_, p) => map.nodeList(p).map((n) => n.region)),
          ...(sync.length > 0 ? { sync } : {}),
        };
      }),
      stateFile: join(witnessDir, 'state.json'), logLevel: 'silent',
    }));
    await startWitness();
    if (opts.wan) {
      for (const a of names) {
        const relay = new WanRelay({ listen: { host: '127.0.0.1', port: await freePort() }, target: { host: '127.0.0.1', port: witnessPort } });
        relayPorts.set(`${a}->witness`, (await relay.start()).port);
        relays.set(`${a}->witness`, relay);
      }
    }
  }
  const regions: ClusterFixture['regions'] = [];
  const configFor = (name: string, redisUrl: string, k = 0) => {
    const peers = names.filter((p) => p !== name).map((p) => {
      const urls = instancePorts.get(p)!.map((port, i) => `http://127.0.0.1:${relayPorts.get(linkName(name, p, i)) ?? port}`);
      return { region: p, url: urls[0]!, ...(perRegion > 1 ? { urls } : {}), publicUrl: `http://127.0.0.1:${ports.get(p)}` };
    });
    const witnessCfg = opts.witness ? { witness: { url: `http://127.0.0.1:${relayPorts.get(`${name}->witness`) ?? witnessPort}` } } : {};
    const coordination = perRegion > 1 ? { coordination: { enabled: true, instanceId: `${name}-${k}` } } : {};
    return baseConfig(name, names, redisUrl, instancePorts.get(name)![k]!, {
      peers, ...witnessCfg, redis: { url: redisUrl, keyPrefix: prefix }, ...coordination, ...opts.extra, ...(opts.perRegion?.(name) ?? {}),
    });
  };
  for (const name of names) {
    const { redis, dir } = await startRedis();
    const instances: InstanceFixture[] = [];
    // one after the other: the first instance claims the region's coordinator lease first
    for (let k = 0; k < perRegion; k++) {
      const config = configFor(name, redis.url, k);
      const gateway = await startGateway(config, { log: silentLogger() });
      instances.push({ id: `${name}-${k}`, port: config.listen.port, url: gateway.url, config, gateway });
    }
    const first = instances[0]!;
    regions.push({ region: name, redis, gateway: first.gateway, config: first.config, port: first.port, dir, instances });
  }
  const byName = (n: string) => {
    const r = regions.find((x) => x.region === n);
    if (!r) throw new Error(`no region ${n}`);
    return r;
  };
  const relaysTo = (from: string, to: string) => [...relays].filter(([k]) => endsOf(k).from === from && endsOf(k).to === to).map(([, r]) => r);
  const cluster: ClusterFixture & ClusterControls = {
    regions,
    relays: [...relays.values()],
    byName,
    coordinatorOf: (region) => byName(region).instances.find((i) => i.gateway.replicator !== undefined),
    relay(from, to) {
      const r = relays.get(`${from}->${to}`);
      if (!r) throw new Error(`no relay ${from}->${to} (start the cluster with wan: true)`);
      return r;
    },
    relaysTo,
    cutLink(a, b) {
      for (const r of [...relaysTo(a, b), ...relaysTo(b, a)]) r.cut('both', 'blackhole');
    },
    async stopWitness() {
      await witness?.close();
      witness = undefined;
    },
    async startWitness() {
      if (!witness) await startWitness();
    },
    /** Isolates a region: every relay to or from it cut (blackhole, both directions). */
    isolate(region: string) {
      for (const [k, r] of relays) if (endsOf(k).from === region || endsOf(k).to === region) r.cut('both', 'blackhole');
    },
    healAll() {
      for (const r of relays.values()) r.heal();
    },
    async stopGateway(name: string) {
      await byName(name).gateway.close();
    },
    async restartGateway(name) {
      const r = byName(name);
      await r.gateway.close();
      r.gateway = await startGateway(r.config, { log: silentLogger() });
      r.instances[0]!.gateway = r.gateway;
    },
    async stopRegion(name) {
      for (const i of byName(name).instances) await i.gateway.close();
    },
    async restartRegion(name) {
      const r = byName(name);
      for (const i of r.instances) await i.gateway.close();
      for (const i of r.instances) i.gateway = await startGateway(i.config, { log: silentLogger() });
      r.gateway = r.instances[0]!.gateway;
    },
    async stop() {
      for (const r of regions) for (const i of r.instances) await i.gateway.close().catch(() => {});
      for (const relay of relays.values()) await relay.close().catch(() => {});
      await witness?.close().catch(() => {});
      rmSync(witnessDir, { recursive: true, force: true });
      for (const r of regions) {
        await r.redis.stop().catch(() => {});
        rmSync(r.dir, { recursive: true, force: true });
      }
    },
  };
  // Every region starts with an empty Redis, so each bootstraps from its peers before it
  // takes writes (gateway/bootstrap-gate.ts); tests start from a writable cluster.
  const writable = (r: ClusterFixture['regions'][number]) => r.instances.every((i) => i.gateway.writesOpen());
  if (opts.waitWritable !== false && !(await eventually(() => regions.every(writable), BOOTSTRAP_WAIT_MS))) {
    const stuck = regions.filter((r) => !writable(r)).map((r) => r.region).join(', ');
    await cluster.stop(); // nothing of a failed start outlives it
    throw new Error(`cluster not writable within ${BOOTSTRAP_WAIT_MS} ms: regions still bootstrapping: ${stuck}`);
  }
  return cluster;
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Keys of `keyspace` whose partition is homed at `home` (its preferred region), `n` of them. */
export function keysHomedAt(c: ClusterFixture, home: string, n: number, keyspace = 'orders'): string[] {
  const cfg = c.regions[0]!.config;
  const map = new PartitionMap(cfg.keyspaces.find((k) => k.name === keyspace)!, cfg.cluster.regions, cfg.merkle.buckets);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (map.nodeList(map.place(`k${i}`).partition)[0]!.region === home) out.push(`k${i}`);
  return out;
}

/** Every region holds the leases of its home partitions (8 with the default keyspaces of two regions: 4 orders + 4 carts). */
export async function allLeased(c: ClusterFixture, perRegion = 8): Promise<boolean> {
  for (const r of c.regions) {
    const status = await (await fetch(`${r.gateway.url}/v1/status`)).json() as { ownership?: { leased?: number } };
    if (status.ownership?.leased !== perRegion) return false;
  }
  return true;
}
