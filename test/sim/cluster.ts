import { seededRandom } from '../../infra/clock.js';
import { OwnershipAgent } from '../../witness/agent.js';
import type { ConfirmReply, ConfirmRequest } from '../../witness/protocol.js';
import { buildTopology, type Topology } from '../../witness/topology.js';
import { WitnessCore, type DurableState } from '../../witness/witness-core.js';
import { EventQueue } from './heap.js';
import { SimNetwork } from './network.js';
import { FenceGateway, SimStore, type FenceModelOptions, type FenceObserver } from './store.js';

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
  /** Model each region's Redis and the store's fence, with client writes (store.ts); off: the control plane alone. */
  readonly fence?: FenceModelOptions;
  /** A store accepting a write under an older epoch than one accepted elsewhere is a violation even inside the writer's lease. */
  readonly strictStore?: boolean;
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
  gateway: FenceGateway | null;
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
  /** One Redis per region (with the fence model). */
  readonly stores = new Map<string, SimStore>();
  /** Per partition: the highest epoch any store accepted a write under, and any gateway acknowledged one under (and by whom). */
  readonly fenceSeen: Array<{ acceptedEpoch: number; ackedEpoch: number; ackedBy: string | null; acks: number }>;
  /**
   * Writes a store accepted under an older epoch than one another store had accepted, while
   * the writer's lease had not reached its end yet (it was given up early: the old owner
   * confirmed the newer epoch while its Redis was frozen with the write queued). Never
   * acknowledged (that is checked); counted, and a violation with `strictStore`.
   */
  staleLandings = 0;

  constructor(readonly o: SimOptions) {
    this.random = seededRandom(o.seed);
    this.topology = buildTopology({ regions: o.regions, keyspaces: [{ name: 'ks', partitions: o.partitions, onSplit: 'fence' }] });
    this.durableEpochs = new Array<number>(o.partitions).fill(0);
    this.net = new SimNetwork(this.q, this.random, () => this.nowMs, (n) => this.isUp(n));
    const rate = () => 1 - o.driftRate + 2 * o.driftRate * this.random();
    this.witnessRate = rate();
    for (const r of o.regions) {
      this.regions.set(r, { agent: null, gateway: null, rate: rate(), offsetMs: 1000 + this.random() * 1e6, lastHeard: new Map(), linkUpSince: new Map(), durable: [] });
    }
    this.fenceSeen = Array.from({ length: o.partitions }, () => ({ acceptedEpoch: -1, ackedEpoch: -1, ackedBy: null, acks: 0 }));
    if (o.fence) {
      for (const r of o.regions) {
        const n = this.regions.get(r) as RegionNode;
        // the region's Redis runs on its host: the same clock rate, its own origin
        const originMs = 1.6e12 + this.random() * 1e9;
        this.stores.set(r, new SimStore(r, this.q, this.random, () => this.nowMs, (t) => originMs + n.rate * t, o.fence, this.fenceObserver()));
      }
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
    n.gateway = null;
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
      // with the fence model a failback drains the partition's running writes through the store first
      ...(this.o.fence ? { onReleaseBegun: (_ks: string, p: number) => this.q.push(this.nowMs, () => n.gateway?.drain(p)) } : {}),
      isCaughtUp: (_ks, _p, peer) => this.localMs(r) - (n.linkUpSince.get(peer) ?? Infinity) > 1000,
      onOwnerChanged: (keyspace, partition, owner, epoch) => {
        n.durable = [...n.durable.filter((e) => e.partition !== partition || e.keyspace !== keyspace), { keyspace, partition, owner, epoch }];
      },
    });
    this.log(`${r} up`);
    const agent = n.agent;
    const store = this.stores.get(r);
    if (store && this.o.fence) {
      const fence = this.o.fence;
      const gw = new FenceGateway(r, agent, store, this.o.partitions, () => this.localMs(r), () => n.agent === agent, fence, this.fenceObserver(),
        (ms, fn) => this.q.push(this.nowMs + ms, fn));
      n.gateway = gw;
      const client = () => {
        if (n.agent !== agent) return;
        gw.write(Math.floor(this.random() * this.o.partitions));
        this.q.push(this.nowMs + fence.writeEveryMs * (0.5 + this.random()), client);
      };
      this.q.push(this.nowMs + this.random() * fence.writeEveryMs, client);
    }
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
    n.gateway?.tick();
  }

  /** Freezes region r's Redis (SIGSTOP): its commands and replies wait `forMs`. */
  freezeStore(r: string, forMs: number): void {
    const s = this.stores.get(r);
    if (!s) return;
    s.freeze(forMs);
    this.log(`${r} store frozen ${forMs.toFixed(0)} ms`);
  }

  /**
   * Checked when it happens: a store accepts a fenced write only under the newest epoch any
   * store accepted one under (the old owner's store refuses once the next owner could write),
   * and no gateway acknowledges a write under an older epoch than one already acknowledged,
   * nor two regions under one epoch: at most one region acknowledges per partition at any instant.
   */
  private fenceObserver(): FenceObserver {
    return {
      accepted: (region, p, epoch, leaseEndMonoMs) => {
        const s = this.fenceSeen[p]!;
        const pastEndMs = this.localMs(region) - leaseEndMonoMs;
        if (pastEndMs >= 0) {
          throw new Violation(`split-brain in the store: ${region}'s Redis accepted a fenced write of ks/${p} under epoch ${epoch} at ${this.nowMs.toFixed(1)} ms, `
            + `${pastEndMs.toFixed(1)} ms after the lease it was checked under ended`);
        }
        if (epoch < s.acceptedEpoch) {
          const what = `${region}'s Redis accepted a fenced write of ks/${p} under epoch ${epoch} at ${this.nowMs.toFixed(1)} ms after a write under epoch ${s.acceptedEpoch} was accepted, ${(-pastEndMs).toFixed(1)} ms before its lease's end`;
          if (this.o.strictStore) throw new Violation(`stale write in the store: ${what}`);
          this.staleLandings++;
          this.log(`stale landing: ${what}`);
          return;
        }
        s.acceptedEpoch = epoch;
      },
      acked: (region, p, epoch) => {
        const s = this.fenceSeen[p]!;
        if (epoch < s.ackedEpoch || (epoch === s.ackedEpoch && s.ackedBy !== region)) {
          throw new Violation(`split-brain: ${region} acknowledged a write of ks/${p} under epoch ${epoch} at ${this.nowMs.toFixed(1)} ms after ${s.ackedBy} acknowledged one under epoch ${s.ackedEpoch}`);
        }
        s.ackedEpoch = epoch;
        s.ackedBy = region;
        s.acks++;
      },
    };
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
