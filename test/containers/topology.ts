/**
 * A geo topology on the lab: N regions, each its own network with a Redis (AOF, fsync always)
 * and a gateway; a witness in a third site; every link between sites through a WAN relay
 * container — one per direction of each region pair (`wan-<from>-<to>`, the `url` of `to`
 * in `from`'s config) and one per region towards the witness (`wan-<region>-witness`). The
 * test process reaches every container over the lab's control network, so cuts never hide
 * a node from the harness.
 *
 * Configs travel in an environment variable that the container writes to a file before it
 * starts the process, so a restarted container runs with the same config (and the witness
 * keeps its state file in the container's /data). The witness runs with `--init` (a new
 * cluster at first boot); a restart finds its state file and the flag is ignored.
 *
 * With `tls`, every node gets a certificate of a lab CA made for the run (regions
 * `geogate://region/<r>`, the witness `geogate://witness`), handed in through environment
 * variables like the config; every listener is HTTPS and every link between sites mutual TLS
 * through the relays (which pass the bytes untouched). `clientFetch()` is a fetch that trusts
 * the lab CA, for the harness's own requests.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { createCa, createNodeCert, identitiesOf } from '../../security/index.js';
import { WanClient } from '../../infra/wan/index.js';
import { Lab, WAN_CONTROL_PORT, WAN_PORT, wanNode, type LabNode, type NodeSpec } from './harness/index.js';
import { partitionOfConfig, type RegionStoreAccess } from '../checker/observe.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import type { WorkloadTarget } from '../checker/workload.js';

export const GATEWAY_PORT = 8080;
export const WITNESS_PORT = 7100;
export const REDIS_PORT = 6379;
export const KEY_PREFIX = 'gg:';
export const CLUSTER_SECRET = 'lab-secret-0123456789abcdef';
export const FENCE_KEYSPACE = 'orders';
export const DIVERGE_KEYSPACE = 'carts';
export const PARTITIONS = 4;
export const WITNESS_SITE = 'witness';
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

export interface TopologyOptions {
  name: string;
  regions?: string[];
  /** Extra gateway config fields (merged at the top level). */
  gateway?: Record<string, unknown>;
  witness?: Record<string, unknown>;
  /** HTTPS listeners and mutual TLS on every link between sites (certificates of a lab CA). */
  tls?: boolean;
  /**
   * Gateway instances per region (default 1). With more, a region's instances share its Redis
   * with `coordination.enabled` (ids `<region>-<k>`; instance 0 starts first, so it is the first
   * coordinator); instance 0 is `gw-<region>`, the others `gw-<region>-<k>`; every instance of
   * `b` has its own relay from `a` (`wan-<a>-<b>`, `wan-<a>-<b>-<k>`), and `a`'s peers[].urls
   * list them all.
   */
  gatewaysPerRegion?: number;
}

/** The gateway instances per region GEOGATE_GATEWAYS_PER_REGION asks the scenarios for (default 1). */
export function gatewaysPerRegionFromEnv(): number {
  const n = Number(process.env.GEOGATE_GATEWAYS_PER_REGION ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 4) throw new Error(`GEOGATE_GATEWAYS_PER_REGION: 1..4 expected, got ${process.env.GEOGATE_GATEWAYS_PER_REGION}`);
  return n;
}

/** Container name of instance `k` of a region's gateways. */
export const gatewayName = (region: string, k = 0): string => (k === 0 ? `gw-${region}` : `gw-${region}-${k}`);
const relayName = (from: string, to: string, k: number): string => (k === 0 ? `wan-${from}-${to}` : `wan-${from}-${to}-${k}`);
const linkName = (from: string, to: string, k: number): string => (k === 0 ? `${from}->${to}` : `${from}->${to}#${k}`);
const linkEnds = (link: string): { from: string; to: string } => {
  const [from, rest] = link.split('->') as [string, string];
  return { from, to: rest.split('#')[0]! };
};

/** PEM files of one node, as the environment variables its container writes to files at start. */
interface NodePem { cert: string; key: string; ca: string }
const TLS_ENV = { GEOGATE_TLS_CERT: '/tmp/node.crt', GEOGATE_TLS_KEY: '/tmp/node.key', GEOGATE_TLS_CA: '/tmp/ca.crt' } as const;
const TLS_FILES = { certFile: TLS_ENV.GEOGATE_TLS_CERT, keyFile: TLS_ENV.GEOGATE_TLS_KEY, caFile: TLS_ENV.GEOGATE_TLS_CA };

async function labCertificates(regions: readonly string[]): Promise<{ dir: string; ca: string; nodes: Map<string, NodePem> }> {
  const dir = mkdtempSync(join(tmpdir(), 'geogate-lab-tls-'));
  const ca = await createCa({ dir });
  const caPem = readFileSync(ca.certFile, 'utf8');
  const nodes = new Map<string, NodePem>();
  for (const site of [...regions, WITNESS_SITE]) {
    const files = await createNodeCert({ dir, node: site === WITNESS_SITE ? { witness: true } : { region: site } });
    nodes.set(site, { cert: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8'), ca: caPem });
  }
  return { dir, ca: caPem, nodes };
}

export interface PeerStatus {
  region: string;
  state: string;
  linkState?: string;
  lagMs?: number;
  lagEntries?: number;
  needsRepair?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function shell(configVar: string, file: string, run: string, tls = false): string[] {
  const pems = tls ? Object.entries(TLS_ENV).map(([v, f]) => `printf '%s' "$${v}" > ${f} && `).join('') : '';
  return ['sh', '-c', `${pems}printf '%s' "$${configVar}" > ${file} && exec ${run} --config ${file}`];
}

function tlsEnv(pem: NodePem | undefined): Record<string, string> {
  return pem ? { GEOGATE_TLS_CERT: pem.cert, GEOGATE_TLS_KEY: pem.key, GEOGATE_TLS_CA: pem.ca } : {};
}

export function keyspaces(): Record<string, unknown>[] {
  return [
    { name: FENCE_KEYSPACE, partitions: PARTITIONS, onSplit: 'fence', writes: 'single-master' },
    { name: DIVERGE_KEYSPACE, partitions: PARTITIONS, onSplit: 'diverge', writes: 'multi-master', resolver: 'lww' },
  ];
}

export class GeoTopology {
  private readonly ips = new Map<string, string>();
  readonly relays = new Map<string, { node: LabNode; control: WanClient }>();
  private certs: Awaited<ReturnType<typeof labCertificates>> | undefined;
  private clientAgent: Agent | undefined;
  private constructor(readonly lab: Lab, readonly regions: string[], readonly networks: Map<string, string>, readonly gatewaysPerRegion: number) {}

  get tls(): boolean { return this.certs !== undefined; }
  private get scheme(): 'http' | 'https' { return this.tls ? 'https' : 'http'; }

  /**
   * A fetch for the harness's own requests: with `tls` it trusts the lab CA and takes a
   * certificate naming any node of the lab (the harness reaches containers by address, which
   * no certificate names); without, the global fetch.
   */
  get clientFetch(): typeof fetch {
    const certs = this.certs;
    if (!certs) return globalThis.fetch;
    this.clientAgent ??= new Agent({
      connect: {
        ca: certs.ca,
        checkServerIdentity: (_host, cert) => (identitiesOf(cert.subjectaltname).length > 0 ? undefined : new Error('not a certificate of a lab node')),
      },
    });
    const dispatcher = this.clientAgent;
    return ((input: Parameters<typeof fetch>[0], init?: RequestInit) => undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;
  }

  static async create(opts: TopologyOptions): Promise<GeoTopology> {
    const regions = opts.regions ?? ['east', 'west'];
    const lab = await Lab.create({ name: opts.name });
    try {
      const networks = new Map<string, string>();
      for (const site of [...regions, WITNESS_SITE]) networks.set(site, await lab.network(site));
      const t = new GeoTopology(lab, regions, networks, opts.gatewaysPerRegion ?? 1);
      if (opts.tls) t.certs = await labCertificates(regions);
      const t0 = Date.now();
      await t.boot(opts);
      console.log(`[topology] ${opts.name}: ${regions.length} regions x ${t.gatewaysPerRegion} gateway instance(s), ${lab.nodes.size} containers, booted in ${Date.now() - t0} ms`);
      return t;
    } catch (err) {
      await lab.close();
      throw err;
    }
  }

  private net(site: string): string {
    const n = this.networks.get(site);
    if (!n) throw new Error(`no network for ${site}`);
    return n;
  }

  private async boot(opts: TopologyOptions): Promise<void> {
    const { lab, regions } = this;
    await Promise.all(regions.map((r) => lab.start(redisSpec(`redis-${r}`, { [this.net(r)]: [] }))));
    const witnessConfig = {
      listen: { host: '0.0.0.0', port: WITNESS_PORT },
      cluster: { id: 'lab', secret: CLUSTER_SECRET, regions },
      keyspaces: keyspaces().map(({ resolver: _resolver, ...k }) => k), stateFile: '/data/witness-state.json', logLevel: 'info',
      ...(this.tls ? { tls: TLS_FILES } : {}), ...opts.witness,
    };
    await lab.start({
      name: 'witness', networks: { [this.net(WITNESS_SITE)]: [] },
      command: shell('GEOGATE_CONFIG', '/data/witness.json', 'node /app/bin/geogate.js witness --init', this.tls),
      env: { GEOGATE_CONFIG: JSON.stringify(witnessConfig), ...tlsEnv(this.certs?.nodes.get(WITNESS_SITE)) }, waitForLog: 'witness listening',
    });
    const relaySpecs: [string, NodeSpec][] = [];
    for (const a of regions) {
      for (const b of regions) {
        if (a === b) continue;
        for (let k = 0; k < this.gatewaysPerRegion; k++) {
          relaySpecs.push([linkName(a, b, k), wanNode(relayName(a, b, k), `${gatewayName(b, k)}:${GATEWAY_PORT}`, { [this.net(a)]: [], [this.net(b)]: [] })]);
        }
      }
      relaySpecs.push([`${a}->${WITNESS_SITE}`, wanNode(`wan-${a}-${WITNESS_SITE}`, `witness:${WITNESS_PORT}`, { [this.net(a)]: [], [this.net(WITNESS_SITE)]: [] })]);
    }
    for (const [link, spec] of relaySpecs) {
      const node = await lab.start(spec);
      this.relays.set(link, { node, control: new WanClient(`http://${await lab.ip(node)}:${WAN_CONTROL_PORT}`) });
    }
    // the regions side by side, a region's instances one after the other (instance 0 claims the coordinator lease first)
    await Promise.all(regions.map(async (r) => {
      for (let k = 0; k < this.gatewaysPerRegion; k++) {
        await lab.start({
          name: gatewayName(r, k), networks: { [this.net(r)]: [] },
          command: shell('GEOGATE_CONFIG', '/tmp/gateway.json', 'node /app/bin/geogate.js gateway', this.tls),
          env: { GEOGATE_CONFIG: JSON.stringify(this.gatewayConfig(r, opts.gateway ?? {}, k)), ...tlsEnv(this.certs?.nodes.get(r)) }, waitForLog: 'gateway listening',
        });
      }
    }));
    await this.refreshIps();
  }

  /** Instance `k`'s config; a region's clients are redirected to a peer's instance 0 (its `publicUrl`). */
  gatewayConfig(region: string, extra: Record<string, unknown>, k = 0): Record<string, unknown> {
    const several = this.gatewaysPerRegion > 1;
    const ownUrl = `${this.scheme}://${gatewayName(region, k)}:${GATEWAY_PORT}`;
    return {
      region,
      listen: { host: '0.0.0.0', port: GATEWAY_PORT },
      publicUrl: ownUrl,
      redis: { url: `redis://redis-${region}:${REDIS_PORT}`, keyPrefix: KEY_PREFIX },
      cluster: { id: 'lab', secret: CLUSTER_SECRET, regions: this.regions },
      peers: this.regions.filter((p) => p !== region).map((p) => {
        const urls = Array.from({ length: this.gatewaysPerRegion }, (_, i) => `${this.scheme}://${relayName(region, p, i)}:${WAN_PORT}`);
        return { region: p, url: urls[0]!, ...(several ? { urls } : {}), publicUrl: this.publicUrl(p) };
      }),
      ...(several ? { coordination: { enabled: true, instanceId: `${region}-${k}`, instanceUrl: ownUrl } } : {}),
      witness: { url: `${this.scheme}://wan-${region}-${WITNESS_SITE}:${WAN_PORT}` },
      keyspaces: keyspaces(),
      ...(this.tls ? { tls: TLS_FILES } : {}),
      ...extra,
    };
  }

  publicUrl(region: string): string {
    return `${this.scheme}://gw-${region}:${GATEWAY_PORT}`;
  }

  /** Control-network addresses can change when a container is started again. */
  async refreshIps(): Promise<void> {
    for (const node of this.lab.nodes.values()) this.ips.set(node.name, await this.lab.ip(node));
  }

  ip(name: string): string {
    const ip = this.ips.get(name);
    if (!ip) throw new Error(`no address for ${name}`);
    return ip;
  }

  /** The region's instance 0 (its only one without `gatewaysPerRegion`). */
  gateway(region: string): LabNode { return this.lab.node(gatewayName(region)); }
  /** Every gateway instance of the region. */
  gateways(region: string): LabNode[] { return Array.from({ length: this.gatewaysPerRegion }, (_, k) => this.lab.node(gatewayName(region, k))); }
  /** Host-reachable URLs of every instance of the region. */
  instanceUrls(region: string): string[] {
    return Array.from({ length: this.gatewaysPerRegion }, (_, k) => `${this.scheme}://${this.ip(gatewayName(region, k))}:${GATEWAY_PORT}`);
  }
  redis(region: string): LabNode { return this.lab.node(`redis-${region}`); }
  get witness(): LabNode { return this.lab.node('witness'); }
  gatewayUrl(region: string, k = 0): string { return `${this.scheme}://${this.ip(gatewayName(region, k))}:${GATEWAY_PORT}`; }
  witnessUrl(): string { return `${this.scheme}://${this.ip('witness')}:${WITNESS_PORT}`; }

  relay(from: string, to: string): WanClient {
    const r = this.relays.get(`${from}->${to}`);
    if (!r) throw new Error(`no relay ${from}->${to}`);
    return r.control;
  }

  targets(): WorkloadTarget[] {
    // `url` is read at every request: a restarted container may come back on another address
    const topo = this;
    return this.regions.map((region) => ({
      region, get url() { return topo.gatewayUrl(region); }, publicUrl: this.publicUrl(region),
      ...(this.gatewaysPerRegion > 1 ? { get urls() { return topo.instanceUrls(region); } } : {}),
    }));
  }

  stores(): RegionStoreAccess[] {
    const partitionOf = partitionOfConfig(parseGatewayConfig(this.gatewayConfig(this.regions[0]!, {}), 'the topology\'s gateway config'));
    return this.regions.map((region) => ({ region, url: this.gatewayUrl(region), redisHost: this.ip(`redis-${region}`), redisPort: REDIS_PORT, prefix: KEY_PREFIX, partitionOf }));
  }

  /** Every relay from `from` to an instance of `to`. */
  relaysTo(from: string, to: string): WanClient[] {
    return [...this.relays].filter(([link]) => linkEnds(link).from === from && linkEnds(link).to === to).map(([, r]) => r.control);
  }

  /** Both directions of the a↔b link, every relay of the pair (one per instance of each side). */
  async cutLink(a: string, b: string, mode: 'blackhole' | 'reset' = 'blackhole'): Promise<void> {
    await Promise.all([...this.relaysTo(a, b), ...this.relaysTo(b, a)].map((r) => r.cut('both', mode)));
  }

  /** Bytes from `from` to `to` are dropped, the other way flows (on every relay of the pair). */
  async cutOneWay(from: string, to: string): Promise<void> {
    // relay from->to: `ab` is from→to; relay to->from: `ba` is from→to
    await Promise.all([...this.relaysTo(from, to).map((r) => r.cut('ab', 'blackhole')), ...this.relaysTo(to, from).map((r) => r.cut('ba', 'blackhole'))]);
  }

  async cutWitness(region: string): Promise<void> {
    await this.relay(region, WITNESS_SITE).cut('both', 'blackhole');
  }

  /** Every WAN link of the region (peers and witness). */
  async isolate(region: string): Promise<void> {
    await Promise.all([...this.regions.filter((r) => r !== region).map((r) => this.cutLink(region, r)), this.cutWitness(region)]);
  }

  async setDelay(delayMs: number, jitterMs = 0): Promise<void> {
    await Promise.all([...this.relays.values()].map((r) => r.control.set('both', { delayMs, jitterMs })));
  }

  /** Heals every relay and removes delay. */
  async healAll(): Promise<void> {
    await Promise.all([...this.relays.values()].map(async (r) => {
      await r.control.heal();
      await r.control.set('both', { delayMs: 0, jitterMs: 0 });
    }));
  }

  /**
   * The region's `/v1/status`: with several instances, its coordinator's (the instance that has
   * the links and the ownership), or instance 0's while none is.
   */
  async status(region: string): Promise<{ peers: PeerStatus[]; [k: string]: unknown }> {
    if (this.gatewaysPerRegion === 1) return this.instanceStatus(region, 0);
    const all = await Promise.all(Array.from({ length: this.gatewaysPerRegion }, (_, k) => this.instanceStatus(region, k).catch(() => undefined)));
    const coordinator = all.find((s) => (s?.coordination as { role?: string } | undefined)?.role === 'coordinator');
    if (coordinator) return coordinator;
    const any = all.find((s) => s !== undefined);
    if (!any) throw new Error(`no instance of ${region} answered /v1/status`);
    return any;
  }

  async instanceStatus(region: string, k: number): Promise<{ peers: PeerStatus[]; [k: string]: unknown }> {
    const res = await this.clientFetch(`${this.gatewayUrl(region, k)}/v1/status`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`${gatewayName(region, k)} /v1/status answered ${res.status}`);
    return res.json();
  }

  async healthy(region: string): Promise<boolean> {
    try {
      const res = await this.clientFetch(`${this.gatewayUrl(region)}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.text();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Waits (bounded) until every gateway answers, sees every peer `up` and takes writes (bootstrap done). Returns ms waited, or throws with the last status. */
  async waitAllUp(timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<number> {
    const t0 = Date.now();
    let last = '';
    while (Date.now() - t0 < timeoutMs) {
      try {
        const states = await Promise.all(this.regions.map(async (r) => {
          const s = await this.status(r);
          // every instance answers and takes writes (a region whose Redis started empty takes them only once it bootstrapped)
          const instances = this.gatewaysPerRegion === 1 ? [s] : await Promise.all(Array.from({ length: this.gatewaysPerRegion }, (_, k) => this.instanceStatus(r, k)));
          const writesOpen = instances.every((i) => (i.bootstrap as { writesOpen?: boolean } | undefined)?.writesOpen !== false);
          return { r, peers: s.peers, writesOpen };
        }));
        last = states.map((s) => `${s.r}: ${s.peers.map((p) => `${p.region}=${p.state}`).join(',')}${s.writesOpen ? '' : ' (bootstrapping)'}`).join('; ');
        if (states.every((s) => s.writesOpen && s.peers.length === this.regions.length - 1 && s.peers.every((p) => p.state === 'up'))) return Date.now() - t0;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(200);
    }
    throw new Error(`regions not all up after ${timeoutMs} ms: ${last}`);
  }

  /** Makes sure every container runs (a previous scenario may have failed mid-fault), heals, waits for links. */
  async reset(): Promise<void> {
    const { docker } = await import('./harness/index.js');
    for (const node of this.lab.nodes.values()) {
      const state = (await docker(['inspect', '--format', '{{.State.Status}}', node.id])).trim();
      if (state === 'paused') await this.lab.unpause(node);
      else if (state !== 'running') await this.lab.startAgain(node);
    }
    await this.refreshIps();
    for (const [link, r] of this.relays) this.relays.set(link, { node: r.node, control: new WanClient(`http://${this.ip(r.node.name)}:${WAN_CONTROL_PORT}`) });
    await this.healAll();
    await this.waitAllUp();
  }

  async logs(name: string, lines = 40): Promise<string> {
    return this.lab.logs(this.lab.node(name), lines);
  }

  async close(): Promise<void> {
    try {
      await this.lab.close();
    } finally {
      await this.clientAgent?.close();
      if (this.certs) rmSync(this.certs.dir, { recursive: true, force: true });
    }
  }
}

/** Redis with an append-only file fsynced on every write: a restart keeps what it acknowledged. */
export function redisSpec(name: string, networks: Record<string, string[]>): NodeSpec {
  return {
    name,
    command: ['redis-server', '--protected-mode', 'no', '--dir', '/data', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
    networks,
    waitForLog: 'Ready to accept connections',
  };
}
