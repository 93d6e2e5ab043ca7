/**
 * `geogate up`: a local cluster on loopback. N regions, each with its own redis-server
 * child process (append-only, in its own data dir) and its own gateway, fully meshed as
 * peers. Prints the URLs; `close()` stops everything it started.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseGatewayConfig, startGateway, type RunningGateway } from '../../gateway/index.js';
import { runWitness } from '../../witness/index.js';
import { WanRelay } from '../wan/index.js';
import { RedisProcess } from './redis-process.js';
import { SentinelGroup } from './sentinel-group.js';
import { freePort } from './ports.js';
import { upCertificates, type UpCertificates } from './up-certs.js';

export const REGION_NAMES = ['east', 'west', 'north', 'south', 'central', 'pacific', 'atlantic', 'arctic'];
/** How long `up` waits for the regions' first bootstrap before it prints the banner anyway. */
export const UP_BOOTSTRAP_WAIT_MS = 15_000;

export interface UpOptions {
  regions: number;
  basePort: number;
  dir?: string | undefined;
  wanDelayMs: number;
  quiet?: boolean;
  /** TLS end to end: a cluster CA and node certificates in <dir>/certs (made when missing), https:// everywhere, mutual TLS between sites. */
  tls?: boolean;
  /** `standalone` (default): one redis-server per region; `sentinel`: a master, a replica and 3 sentinels per region. */
  redisMode?: RedisMode;
  /** Gateway instances per region (default 1); with more, they elect their region's coordinator (coordination.enabled). */
  gatewaysPerRegion?: number;
}

export const GATEWAYS_PER_REGION_MAX = 8;

export const REDIS_MODES = ['standalone', 'sentinel'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

export interface LocalCluster {
  readonly gateways: RunningGateway[];
  /** Every redis-server started (with `sentinel`, each group's master and replica). */
  readonly redis: RedisProcess[];
  /** With `sentinel`: each region's group, in region order. */
  readonly sentinelGroups: SentinelGroup[];
  readonly witnessUrl: string;
  readonly relays: WanRelay[];
  close(): Promise<void>;
}

const KEYSPACES = [
  { name: 'orders', partitions: 16, onSplit: 'fence', resolver: 'lww' },
  { name: 'carts', partitions: 16, onSplit: 'diverge', writes: 'multi-master' },
] as const;

const perRegionOf = (opts: UpOptions) => opts.gatewaysPerRegion ?? 1;

export async function runUp(opts: UpOptions): Promise<LocalCluster> {
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'geogate-up-'));
  mkdirSync(dir, { recursive: true });
  const regions = REGION_NAMES.slice(0, opts.regions);
  const secret = randomBytes(16).toString('hex');
  const redis: RedisProcess[] = [];
  const groups: SentinelGroup[] = [];
  const sentinel = opts.redisMode === 'sentinel';
  const storeText = (i: number) => (sentinel ? `sentinel ${groups[i]!.name} via ${groups[i]!.addresses.join(',')}` : `redis ${redis[i]!.url}`);
  const gateways: RunningGateway[] = [];
  const relays: WanRelay[] = [];
  let witness: { url: string; close(): Promise<void> } | undefined;
  let certs: UpCertificates | undefined;
  const close = async () => {
    for (const g of gateways.splice(0)) await g.close().catch(() => {});
    for (const r of relays.splice(0)) await r.close().catch(() => {});
    await witness?.close().catch(() => {});
    for (const g of groups) await g.stop().catch(() => {});
    for (const r of redis.splice(0)) await r.stop().catch(() => {});
  };
  try {
    for (const region of regions) {
      if (!sentinel) { redis.push(await RedisProcess.start({ dir: join(dir, region) })); continue; }
      const group = await SentinelGroup.start({ dir: join(dir, region), name: `geogate-${region}` });
      groups.push(group);
      redis.push(...group.servers);
    }
    // a region's store: its redis-server, or its Sentinel group (orders then waits for the replica)
    const storeOf = (i: number) => (sentinel ? { sentinels: groups[i]!.addresses, name: groups[i]!.name } : { url: redis[i]!.url });
    const keyspaces = sentinel ? KEYSPACES.map((k) => (k.name === 'orders' ? { ...k, durability: 'replica' } : k)) : KEYSPACES;
    const perRegion = opts.gatewaysPerRegion ?? 1;
    // instance 0 of region i on basePort + 1 + i (as with one instance), the others after every region's first
    const port = (i: number, k = 0) => (k === 0 ? opts.basePort + 1 + i : opts.basePort + 1 + regions.length + i * (perRegion - 1) + (k - 1));
    certs = opts.tls ? await upCertificates(join(dir, 'certs'), regions) : undefined;
    const scheme = certs ? 'https' : 'http';
    // the secret in a file of its own: the config files hold none
    const secretFile = join(dir, 'cluster.secret');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const witnessFile = join(dir, 'witness.json');
    // A dir without a witness config is a new cluster: the witness creates its state file
    // (--init). A reused --dir keeps its state; if that state file was lost, the witness
    // refuses to start rather than reset epochs.
    const newCluster = !existsSync(witnessFile);
    writeFileSync(witnessFile, JSON.stringify({
      listen: { host: '127.0.0.1', port: opts.basePort }, cluster: { id: 'local', secretFile, regions },
      ...(certs ? { tls: certs.witness } : {}),
      keyspaces: KEYSPACES.map((k) => ({ name: k.name, partitions: k.partitions, onSplit: k.onSplit })),
      stateFile: join(dir, 'witness-state.json'),
    }, null, 2));
    witness = await runWitness(witnessFile, { init: newCluster });
    // with --wan-delay-ms every link between regions goes through the WAN emulator
    const peerUrl = async (from: number, to: number, k = 0): Promise<string> => {
      if (opts.wanDelayMs <= 0) return `${scheme}://127.0.0.1:${port(to, k)}`;
      const relay = new WanRelay({
        listen: { host: '127.0.0.1', port: await freePort() }, target: { host: '127.0.0.1', port: port(to, k) },
        initial: { ab: { delayMs: opts.wanDelayMs }, ba: { delayMs: opts.wanDelayMs } },
      });
      relays.push(relay);
      return `${scheme}://127.0.0.1:${(await relay.start()).port}`; // TCP: TLS passes through untouched
    };
    for (const [i, region] of regions.entries()) {
      const peers = [];
      for (const [j, peer] of regions.entries()) {
        if (j === i) continue;
        // with several instances a peer region is dialled at each in turn (its coordinator serves the link)
        const urls = [];
        for (let k = 0; k < perRegion; k++) urls.push(await peerUrl(i, j, k));
        peers.push({ region: peer, url: urls[0]!, ...(perRegion > 1 ? { urls } : {}), publicUrl: `${scheme}://127.0.0.1:${port(j)}` });
      }
      for (let k = 0; k < perRegion; k++) {
        const config = parseGatewayConfig({
          region,
          listen: { host: '127.0.0.1', port: port(i, k) },
          publicUrl: `${scheme}://127.0.0.1:${port(i, k)}`,
          redis: storeOf(i),
          cluster: { id: 'local', secretFile, regions },
          ...(certs ? { tls: certs.regions.get(region) } : {}),
          peers,
          witness: { url: witness.url },
          keyspaces,
          ...(perRegion > 1 ? { coordination: { enabled: true, instanceId: `${region}-${k}` } } : {}),
        }, `geogate up (${region}${perRegion > 1 ? ` instance ${k}` : ''})`);
        gateways.push(await startGateway(config));
      }
    }
    // Fresh stores bootstrap from each other before they take writes (a moment on loopback).
    const t0 = Date.now();
    while (!gateways.every((g) => g.writesOpen()) && Date.now() - t0 < UP_BOOTSTRAP_WAIT_MS) await new Promise((r) => setTimeout(r, 50));
  } catch (err) {
    await close();
    throw err;
  }
  if (!opts.quiet) {
    process.stdout.write(`geogate local cluster "local" (data in ${dir}):\n  witness: ${witness!.url}\n`);
    for (const [n, g] of gateways.entries()) {
      const i = Math.floor(n / perRegionOf(opts));
      const k = n % perRegionOf(opts);
      process.stdout.write(`  ${regions[i]}${perRegionOf(opts) > 1 ? ` instance ${k}` : ''}: ${g.config.publicUrl}  (${storeText(i)})\n`);
    }
    if (perRegionOf(opts) > 1) process.stdout.write(`  ${perRegionOf(opts)} gateway instances per region: one elected coordinator each (geogate status shows which)\n`);
    if (opts.wanDelayMs > 0) process.stdout.write(`  links between regions pass the WAN emulator: ${opts.wanDelayMs} ms each way\n`);
    if (groups.length > 0) process.stdout.write('  each region on Redis Sentinel (master + replica + 3 sentinels); orders has durability replica\n');
    if (certs) process.stdout.write(`  TLS everywhere, mutual TLS between sites (certificates in ${join(dir, 'certs')})\n`);
    const cacert = certs ? `--cacert ${certs.caFile} ` : '';
    process.stdout.write(`try: curl ${cacert}-X PUT --data hello ${gateways[0]!.config.publicUrl}/v1/kv/carts/greeting\nCtrl-C stops everything.\n`);
  }
  return { gateways, redis, sentinelGroups: groups, witnessUrl: witness!.url, relays, close };
}
