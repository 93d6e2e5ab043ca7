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
 */
import { WanClient } from '../../infra/wan/index.js';
import { Lab, WAN_CONTROL_PORT, WAN_PORT, wanNode, type LabNode, type NodeSpec } from './harness/index.js';
import type { RegionStoreAccess } from '../checker/observe.js';
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

function shell(configVar: string, file: string, run: string): string[] {
  return ['sh', '-c', `printf '%s' "$${configVar}" > ${file} && exec ${run} --config ${file}`];
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
  private constructor(readonly lab: Lab, readonly regions: string[], readonly networks: Map<string, string>) {}

  static async create(opts: TopologyOptions): Promise<GeoTopology> {
    const regions = opts.regions ?? ['east', 'west'];
    const lab = await Lab.create({ name: opts.name });
    try {
      const networks = new Map<string, string>();
      for (const site of [...regions, WITNESS_SITE]) networks.set(site, await lab.network(site));
      const t = new GeoTopology(lab, regions, networks);
      await t.boot(opts);
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
      keyspaces: keyspaces().map(({ resolver: _resolver, ...k }) => k), stateFile: '/data/witness-state.json', logLevel: 'info', ...opts.witness,
    };
    await lab.start({
      name: 'witness', networks: { [this.net(WITNESS_SITE)]: [] },
      command: shell('GEOGATE_CONFIG', '/data/witness.json', 'node /app/bin/geogate.js witness --init'),
      env: { GEOGATE_CONFIG: JSON.stringify(witnessConfig) }, waitForLog: 'witness listening',
    });
    const relaySpecs: [string, NodeSpec][] = [];
    for (const a of regions) {
      for (const b of regions) {
        if (a !== b) relaySpecs.push([`${a}->${b}`, wanNode(`wan-${a}-${b}`, `gw-${b}:${GATEWAY_PORT}`, { [this.net(a)]: [], [this.net(b)]: [] })]);
      }
      relaySpecs.push([`${a}->${WITNESS_SITE}`, wanNode(`wan-${a}-${WITNESS_SITE}`, `witness:${WITNESS_PORT}`, { [this.net(a)]: [], [this.net(WITNESS_SITE)]: [] })]);
    }
    for (const [link, spec] of relaySpecs) {
      const node = await lab.start(spec);
      this.relays.set(link, { node, control: new WanClient(`http://${await lab.ip(node)}:${WAN_CONTROL_PORT}`) });
    }
    await Promise.all(regions.map((r) => lab.start({
      name: `gw-${r}`, networks: { [this.net(r)]: [] },
      command: shell('GEOGATE_CONFIG', '/tmp/gateway.json', 'node /app/bin/geogate.js gateway'),
      env: { GEOGATE_CONFIG: JSON.stringify(this.gatewayConfig(r, opts.gateway ?? {})) }, waitForLog: 'gateway listening',
    })));
    await this.refreshIps();
  }

  gatewayConfig(region: string, extra: Record<string, unknown>): Record<string, unknown> {
    return {
      region,
      listen: { host: '0.0.0.0', port: GATEWAY_PORT },
      publicUrl: this.publicUrl(region),
      redis: { url: `redis://redis-${region}:${REDIS_PORT}`, keyPrefix: KEY_PREFIX },
      cluster: { id: 'lab', secret: CLUSTER_SECRET, regions: this.regions },
      peers: this.regions.filter((p) => p !== region).map((p) => ({ region: p, url: `http://wan-${region}-${p}:${WAN_PORT}`, publicUrl: this.publicUrl(p) })),
      witness: { url: `http://wan-${region}-${WITNESS_SITE}:${WAN_PORT}` },
      keyspaces: keyspaces(),
      ...extra,
    };
  }

  publicUrl(region: string): string {
    return `http://gw-${region}:${GATEWAY_PORT}`;
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

  gateway(region: string): LabNode { return this.lab.node(`gw-${region}`); }
  redis(region: string): LabNode { return this.lab.node(`redis-${region}`); }
  get witness(): LabNode { return this.lab.node('witness'); }
  gatewayUrl(region: string): string { return `http://${this.ip(`gw-${region}`)}:${GATEWAY_PORT}`; }
  witnessUrl(): string { return `http://${this.ip('witness')}:${WITNESS_PORT}`; }

  relay(from: string, to: string): WanClient {
    const r = this.relays.get(`${from}->${to}`);
    if (!r) throw new Error(`no relay ${from}->${to}`);
    return r.control;
  }

  targets(): WorkloadTarget[] {
    // `url` is read at every request: a restarted container may come back on another address
    const topo = this;
    return this.regions.map((region) => ({ region, get url() { return topo.gatewayUrl(region); }, publicUrl: this.publicUrl(region) }));
  }

  stores(): RegionStoreAccess[] {
    return this.regions.map((region) => ({ region, url: this.gatewayUrl(region), redisHost: this.ip(`redis-${region}`), redisPort: REDIS_PORT, prefix: KEY_PREFIX }));
  }

  /** Both directions of the a↔b link, both relays. */
  async cutLink(a: string, b: string, mode: 'blackhole' | 'reset' = 'blackhole'): Promise<void> {
    await Promise.all([this.relay(a, b).cut('both', mode), this.relay(b, a).cut('both', mode)]);
  }

  /** Bytes from `from` to `to` are dropped, the other way flows (on both relays of the pair). */
  async cutOneWay(from: string, to: string): Promise<void> {
    // relay from->to: `ab` is from→to; relay to->from: `ba` is from→to
    await Promise.all([this.relay(from, to).cut('ab', 'blackhole'), this.relay(to, from).cut('ba', 'blackhole')]);
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

  async status(region: string): Promise<{ peers: PeerStatus[]; [k: string]: unknown }> {
    const res = await fetch(`${this.gatewayUrl(region)}/v1/status`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`${region} /v1/status answered ${res.status}`);
    return res.json();
  }

  async healthy(region: string): Promise<boolean> {
    try {
      const res = await fetch(`${this.gatewayUrl(region)}/healthz`, { signal: AbortSignal.timeout(1000) });
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
          // a region whose Redis started empty takes writes only once it bootstrapped
          return { r, peers: s.peers, writesOpen: (s.bootstrap as { writesOpen?: boolean } | undefined)?.writesOpen !== false };
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

  close(): Promise<void> {
    return this.lab.close();
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
