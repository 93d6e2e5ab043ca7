import { seededRandom } from '../../infra/clock.js';
import { OwnershipAgent } from '../../witness/agent.js';
import type { ConfirmReply, ConfirmRequest } from '../../witness/protocol.js';
import { buildTopology, type Topology } from '../../witness/topology.js';
import { WitnessCore, type DurableState } from '../../witness/witness-core.js';
import { EventQueue } from './heap.js';
import { SimNetwork } from './network.js';

export interface SimOptions {
  readonly seed: number;
  readonly regions: readonly string[];
  readonly partitions: number;
  readonly leaseMs: number;
  readonly driftMarginMs: number;
  /** Clock rates are drawn from [1 - driftRate, 1 + driftRate]. */
  readonly driftRate: number;
  readonly minOwnershipChangeIntervalMs: number;
  readonly bootQuietMs?: number;
  readonly tickMs: number;
  readonly heartbeatMs: number;
  readonly missedMax: number;
}

export const SIM_DEFAULTS: Omit<SimOptions, 'seed'> = {
  regions: ['a', 'b', 'c'],
  partitions: 3,
  leaseMs: 1500,
  driftMarginMs: 150,
  driftRate: 0.04,
  minOwnershipChangeIntervalMs: 2000,
  tickMs: 25,
  heartbeatMs: 100,
  missedMax: 5,
};

export const WITNESS = 'witness';

interface RegionNode {
  agent: OwnershipAgent | null;
  readonly rate: number;
  readonly offsetMs: number;
  readonly lastHeard: Map<string, number>;
  readonly linkUpSince: Map<string, number>;
  durable: Array<{ keyspace: string; partition: number; owner: string; epoch: number }>;
}

export class Violation extends Error {
  override readonly name = 'Violation';
}

/**
 * The control plane on a seeded fake network and fake clocks: the same `OwnershipAgent` and
 * `WitnessCore` the gateway and the witness service run. Region clocks drift; crashes keep
 * durable state (the witness's owners/epochs, a region's last known owners) and lose promises.
 */
export class SimCluster {
  readonly q = new EventQueue();
  readonly random: () => number;
  readonly net: SimNetwork;
  readonly topology: Topology;
  readonly regions = new Map<string, RegionNode>();
  witness: WitnessCore | null = null;
  witnessDurable: DurableState | undefined;
  private readonly witnessRate: number;
  nowMs = 0;
  private readonly durableEpochs: number[];
  events = 0;
  grants = 0;
  readonly trace: string[] = [];

  constructor(readonly o: SimOptions) {
    this.random = seededRandom(o.seed);
    this.topology = buildTopology({ regions: o.regions, keyspaces: [{ name: 'ks', partitions: o.partitions, onSplit: 'fence' }] });
    this.durableEpochs = new Array<number>(o.partitions).fill(0);
    this.net = new SimNetwork(this.q, this.random, () => this.nowMs, (n) => this.isUp(n));
    const rate = () => 1 - o.driftRate + 2 * o.driftRate * this.random();
    this.witnessRate = rate();
    for (const r of o.regions) {
      this.regions.set(r, { agent: null, rate: rate(), offsetMs: 1000 + this.random() * 1e6, lastHeard: new Map(), linkUpSince: new Map(), durable: [] });
    }
  }

  start(): void {
    this.startWitness();
    for (const r of this.o.regions) this.startRegion(r);
  }

  isUp(node: string): boolean {
    return node === WITNESS ? this.witness !== null : this.regions.get(node)?.agent != null;
  }

  localMs(region: string): number {
    const n = this.regions.get(region) as RegionNode;
    return n.offsetMs + n.rate * this.nowMs;
  }

  witnessMs(): number {
    return 5000 + this.witnessRate * this.nowMs;
  }

  log(line: string): void {
    if (this.trace.length < 400) this.trace.push(`${this.nowMs.toFixed(1)} ${line}`);
  }

  startWitness(): void {
    this.witness = new WitnessCore(
      {
        topology: this.topology,
        leaseMs: this.o.leaseMs,
        bootMonoMs: this.witnessMs(),
        ...(this.o.bootQuietMs === undefined ? {} : { bootQuietMs: this.o.bootQuietMs }),
        regionSilenceMs: this.o.heartbeatMs * this.o.missedMax * 2,
        minOwnershipChangeIntervalMs: this.o.minOwnershipChangeIntervalMs,
        decisionsMax: 50,
      },
      this.witnessDurable,
    );
    this.log('witness up');
  }

  crashWitness(): void {
    this.witness = null;
    this.log('witness crash');
  }

  crashRegion(r: string): void {
    const n = this.regions.get(r) as RegionNode;
    n.agent = null;
    this.log(`${r} crash`);
  }

  startRegion(r: string): void {
    const n = this.regions.get(r) as RegionNode;
    if (n.agent) return;
    n.lastHeard.clear();
    n.linkUpSince.clear();
    n.agent = new OwnershipAgent({
      region: r,
      topology: this.topology,
      leaseMs: this.o.leaseMs,
      driftMarginMs: this.o.driftMarginMs,
      bootMonoMs: this.localMs(r),
      incarnation: Math.floor(this.random() * 2 ** 32),
      ...(this.o.bootQuietMs === undefined ? {} : { bootQuietMs: this.o.bootQuietMs }),
      initialOwners: n.durable,
      isCaughtUp: (_ks, _p, peer) => this.localMs(r) - (n.linkUpSince.get(peer) ?? Infinity) > 1000,
      onOwnerChanged: (keyspace, partition, owner, epoch) => {
        n.durable = [...n.durable.filter((e) => e.partition !== partition || e.keyspace !== keyspace), { keyspace, partition, owner, epoch }];
      },
    });
    this.log(`${r} up`);
    const agent = n.agent;
    const loop = () => {
      if (n.agent !== agent) return;
      this.tickRegion(r, n, agent);
      this.q.push(this.nowMs + this.o.tickMs * (0.5 + this.random()), loop);
    };
    const beat = () => {
      if (n.agent !== agent) return;
      for (const peer of this.o.regions) if (peer !== r) this.net.send(r, peer, () => this.heard(peer, r));
      this.q.push(this.nowMs + this.o.heartbeatMs, beat);
    };
    this.q.push(this.nowMs + this.random() * this.o.tickMs, loop);
    this.q.push(this.nowMs + this.random() * this.o.heartbeatMs, beat);
  }

  /** `at` heard from `from` (any frame proves the peer alive). */
  private heard(at: string, from: string): void {
    const n = this.regions.get(at) as RegionNode;
    if (!n.agent) return;
    const now = this.localMs(at);
    const was = n.lastHeard.get(from);
    if (was === undefined || now - was > this.o.heartbeatMs * this.o.missedMax) n.linkUpSince.set(from, now);
    n.lastHeard.set(from, now);
    n.agent.setPeerLink(from, 'up');
  }

  private tickRegion(r: string, n: RegionNode, agent: OwnershipAgent): void {
    const now = this.localMs(r);
    for (const peer of this.o.regions) {
      if (peer === r) continue;
      const age = now - (n.lastHeard.get(peer) ?? Number.NEGATIVE_INFINITY);
      agent.setPeerLink(peer, age > this.o.heartbeatMs * this.o.missedMax ? 'down' : age > this.o.heartbeatMs * 2 ? 'suspect' : 'up');
    }
    const out = agent.tick(now);
    for (const { voter, request } of out.confirms) {
      if (voter === WITNESS) this.toWitness(r, agent, (w) => w.confirm(request, this.witnessMs()), (reply) => agent.onConfirmReply(reply, this.localMs(r)));
      else this.toPeer(r, voter, request, agent);
    }
    for (const g of out.grants) {
      this.toWitness(r, agent, (w) => {
        const plan = w.planGrant(g, this.witnessMs(), this.nowMs);
        if (plan.change) {
          this.witnessDurable = w.snapshot(plan.change);
          this.durableEpochs[plan.change.entry.partition] = plan.change.entry.epoch;
          w.commit(plan.change, this.witnessMs());
          this.grants++;
          this.log(`grant ${plan.change.key} -> ${plan.change.entry.owner}@${plan.change.entry.epoch} (${g.reason} by ${g.from})`);
        }
        return plan.reply;
      }, (reply) => agent.onGrantReply(reply, this.localMs(r)));
    }
    if (out.heartbeat) {
      const hb = out.heartbeat;
      this.toWitness(r, agent, (w) => w.heartbeat(hb, this.witnessMs()), (reply) => agent.onHeartbeatReply(reply, this.localMs(r)));
    }
  }

  private toWitness<T>(r: string, agent: OwnershipAgent, handle: (w: WitnessCore) => T, onReply: (reply: T) => void): void {
    this.net.send(r, WITNESS, () => {
      const w = this.witness;
      if (!w) return;
      const reply = handle(w);
      this.net.send(WITNESS, r, () => {
        if (this.regions.get(r)?.agent === agent) onReply(reply);
      });
    });
  }

  private toPeer(r: string, peer: string, request: ConfirmRequest, agent: OwnershipAgent): void {
    this.net.send(r, peer, () => {
      const p = this.regions.get(peer)?.agent;
      if (!p) return;
      this.heard(peer, r);
      const reply: ConfirmReply = p.onConfirmRequest(request, this.localMs(peer));
      this.net.send(peer, r, () => {
        if (this.regions.get(r)?.agent !== agent) return;
        this.heard(r, peer);
        agent.onConfirmReply(reply, this.localMs(r));
      });
    });
  }

  /** Regions holding a valid lease for partition p right now (real time). */
  holders(p: number): string[] {
    const out: string[] = [];
    for (const [r, n] of this.regions) {
      if (!n.agent) continue;
      if (n.agent.authority('ks', p, this.localMs(r)).kind === 'owner') out.push(r);
    }
    return out;
  }

  /** Invariants checked after every event. */
  check(): void {
    const holder = new Map<number, string>();
    for (const [r, n] of this.regions) {
      if (!n.agent) continue;
      const now = this.localMs(r);
      n.agent.forEachPartition((spec, known, leaseUntilMs) => {
        if (known.epoch > this.durableEpochs[spec.partition]!) {
          throw new Violation(`${r} knows epoch ${known.epoch} of ${spec.key} but the witness only issued ${this.durableEpochs[spec.partition]}`);
        }
        if (known.owner !== r || leaseUntilMs <= now) return;
        const other = holder.get(spec.partition);
        if (other) throw new Violation(`two valid leases for ${spec.key} at ${this.nowMs.toFixed(1)} ms: ${other}, ${r}`);
        holder.set(spec.partition, r);
      });
    }
  }

  /** Runs events until `untilMs`, checking invariants after each; `onStep` may observe. */
  runUntil(untilMs: number, onStep?: () => void): void {
    for (;;) {
      const e = this.q.pop();
      if (!e) break;
      if (e.atMs > untilMs) {
        this.q.push(e.atMs, e.run);
        break;
      }
      this.nowMs = e.atMs;
      e.run();
      this.events++;
      this.check();
      onStep?.();
    }
    this.nowMs = untilMs;
  }
}
