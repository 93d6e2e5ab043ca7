import { HandoverDriver } from '../../gateway/ownership/handover.js';
import { seededRandom, type Clock, type TimerHandle } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import { OwnershipAgent } from '../../witness/agent.js';
import type { LinkState } from '../../witness/agent-types.js';
import type { ConfirmReply, ConfirmRequest, GrantRequest } from '../../witness/protocol.js';
import { buildTopology, type Topology } from '../../witness/topology.js';
import { WitnessCore, type DurableState } from '../../witness/witness-core.js';
import { EventQueue } from './heap.js';
import { SimNetwork } from './network.js';
import { SimReplicator } from './replication.js';
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
  /** The region's coordinator term (several instances per region), sent by its agent; undefined: one instance. */
  term?: number;
  readonly rate: number;
  readonly offsetMs: number;
  readonly lastHeard: Map<string, number>;
  readonly linkUpSince: Map<string, number>;
  gateway: FenceGateway | null;
  replicator: SimReplicator | null;
  handover: HandoverDriver | null;
  durable: Array<{ keyspace: string; partition: number; owner: string; epoch: number }>;
}

/** A region's monotonic clock (its rate, its origin) as the production code's `Clock`; timers run on the sim's queue. */
class RegionClock implements Clock {
  constructor(private readonly q: EventQueue, private readonly realMs: () => number, private readonly rate: number, private readonly offsetMs: number) {}
  monoMs(): number {
    return this.offsetMs + this.rate * this.realMs();
  }
  nowMs(): number {
    return 1.7e12 + this.monoMs();
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    let cancelled = false;
    this.q.push(this.realMs() + Math.max(0, ms) / this.rate, () => { if (!cancelled) fn(); });
    return { cancel: () => { cancelled = true; } };
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }
}

/** Client writes of the constant load (SimCluster.startLoad), as the clients saw them. */
export interface LoadCounters {
  issued: number;
  /** Redirected to the owner (one WAN hop more). */
  redirected: number;
  /** No gateway reachable, or redirected twice: the client gives up on this write. */
  lost: number;
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
  /** Per partition: the highest epoch any store accepted a write under, and any gateway acknowledged one under (by whom, when: real ms). */
  readonly fenceSeen: Array<{ acceptedEpoch: number; ackedEpoch: number; ackedBy: string | null; ackedAtMs: number; acks: number }>;
  /** Per partition: real ms of the witness's last grant (NaN: none). */
  readonly lastGrantAtMs: number[];
  /** Handover drivers with drains that may still be running (their promises need the microtask queue). */
  private readonly drivers = new Set<HandoverDriver>();
  readonly load: LoadCounters = { issued: 0, redirected: 0, lost: 0 };
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
      this.regions.set(r, { agent: null, gateway: null, replicator: null, handover: null, rate: rate(), offsetMs: 1000 + this.random() * 1e6, lastHeard: new Map(), linkUpSince: new Map(), durable: [] });
    }
    this.fenceSeen = Array.from({ length: o.partitions }, () => ({ acceptedEpoch: -1, ackedEpoch: -1, ackedBy: null, ackedAtMs: Number.NaN, acks: 0 }));
    this.lastGrantAtMs = new Array<number>(o.partitions).fill(Number.NaN);
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
    if (this.o.fence?.clientLoadEveryMs !== undefined) this.startLoad(this.o.fence.clientLoadEveryMs);
  }

  /**
   * Constant client load for the whole run: the clients of every region write every
   * partition once every `everyMs` (jittered 0.5–1.5×), whatever happens to the cluster. A
   * client sends to its own region's gateway, or, while that is down, to the next live region
   * (one WAN hop); a redirect is followed once to the owner it names (one WAN hop from the
   * client's site); cuts, drops and delays of the network apply to those hops.
   */
  private startLoad(everyMs: number): void {
    for (const site of this.o.regions) {
      for (let p = 0; p < this.o.partitions; p++) {
        const next = () => {
          this.clientWrite(site, p);
          this.q.push(this.nowMs + everyMs * (0.5 + this.random()), next);
        };
        this.q.push(this.nowMs + this.random() * everyMs, next);
      }
    }
  }

  private clientWrite(site: string, p: number): void {
    this.load.issued++;
    const at = (region: string, redirected: boolean) => {
      const gw = this.regions.get(region)?.gateway;
      if (!gw) {
        this.load.lost++;
        return;
      }
      const owner = gw.write(p);
      if (owner === null) return;
      if (redirected) {
        this.load.lost++;
        return;
      }
      this.load.redirected++;
      this.net.sendFromSite(site, owner, () => at(owner, true));
    };
    if (this.isUp(site)) {
      at(site, false);
      return;
    }
    const i = this.o.regions.indexOf(site);
    const entry = [...this.o.regions.slice(i + 1), ...this.o.regions.slice(0, i)].find((r) => this.isUp(r));
    if (entry === undefined) this.load.lost++;
    else this.net.sendFromSite(site, entry, () => at(entry, false));
  }

  /** How `at` sees its link to `peer` from heartbeat ages (what the agent is told). */
  linkState(at: string, peer: string): LinkState {
    const n = this.regions.get(at) as RegionNode;
    const age = this.localMs(at) - (n.lastHeard.get(peer) ?? Number.NEGATIVE_INFINITY);
    return age > this.o.heartbeatMs * this.o.missedMax ? 'down' : age > this.o.heartbeatMs * 2 ? 'suspect' : 'up';
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

  /**
   * Another instance of region r becomes its coordinator (issue 15): the agent of the old term
   * stops at once (its messages already sent still travel), a new agent starts with the next
   * term over the region's durable owners, as gateway/coordinator.ts starts the role.
   */
  changeCoordinator(r: string): void {
    const n = this.regions.get(r) as RegionNode;
    this.crashRegion(r);
    n.term = (n.term ?? 0) + 1;
    this.log(`${r} coordinator term ${n.term}`);
    this.startRegion(r);
  }

  /**
   * Called with every grant request a region sends to the witness; a number returned delays
   * that request by so many ms more than the network does (a request held up on the WAN).
   */
  onGrantSent: ((from: string, g: GrantRequest) => number | undefined) | null = null;

  crashRegion(r: string): void {
    const n = this.regions.get(r) as RegionNode;
    n.agent = null;
    n.gateway = null;
    n.replicator = null;
    n.handover = null;
    this.log(`${r} crash`);
  }

  startRegion(r: string): void {
    const n = this.regions.get(r) as RegionNode;
    if (n.agent) return;
    n.lastHeard.clear();
    n.linkUpSince.clear();
    const handover = this.o.fence ? this.handoverDriver(r, n) : null;
    n.agent = new OwnershipAgent({
      region: r,
      topology: this.topology,
      leaseMs: this.o.leaseMs,
      driftMarginMs: this.o.driftMarginMs,
      bootMonoMs: this.localMs(r),
      incarnation: Math.floor(this.random() * 2 ** 32),
      ...(this.o.bootQuietMs === undefined ? {} : { bootQuietMs: this.o.bootQuietMs }),
      initialOwners: n.durable,
      ...(n.term === undefined ? {} : { term: n.term }),
      // with the fence model, the gateway's handover (gateway/ownership/handover.ts) pre-checks and drains a failback
      ...(handover
        ? { isCaughtUp: (_ks: string, _p: number, peer: string) => handover.driver.ready(peer), onReleaseBegun: (ks: string, p: number, target: string) => handover.driver.begin(ks, p, target) }
        : { isCaughtUp: (_ks: string, _p: number, peer: string) => this.localMs(r) - (n.linkUpSince.get(peer) ?? Infinity) > 1000 }),
      onOwnerChanged: (keyspace, partition, owner, epoch) => {
        const previous = n.durable.find((e) => e.partition === partition && e.keyspace === keyspace)?.owner ?? this.topology.partitions.get(`${keyspace}/${partition}`)?.nodes[0];
        n.durable = [...n.durable.filter((e) => e.partition !== partition || e.keyspace !== keyspace), { keyspace, partition, owner, epoch }];
        // handed over by us: tell the new owner now (witness-authority.ts, OWNER_TOPIC)
        if (handover && previous === r && owner !== r) this.net.send(r, owner, () => this.ownerHint(owner, keyspace, partition, epoch, r));
      },
    });
    this.log(`${r} up`);
    const agent = n.agent;
    const store = this.stores.get(r);
    if (store && this.o.fence && handover) {
      const fence = this.o.fence;
      const gw = new FenceGateway(r, agent, store, this.o.partitions, () => this.localMs(r), () => n.agent === agent, fence, this.fenceObserver(),
        handover.driver.inflight);
      n.gateway = gw;
      n.replicator = handover.replicator;
      n.handover = handover.driver;
      handover.bind(agent);
      const client = () => {
        if (n.agent !== agent) return;
        gw.write(Math.floor(this.random() * this.o.partitions));
        this.q.push(this.nowMs + fence.writeEveryMs * (0.5 + this.random()), client);
      };
      if (fence.clientLoadEveryMs === undefined) this.q.push(this.nowMs + this.random() * fence.writeEveryMs, client);
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

  /**
   * The gateway's handover for one region incarnation, wired as gateway/ownership/witness-authority.ts
   * wires it: the real `HandoverDriver` on the region's clock, over the simulated replicator.
   */
  private handoverDriver(r: string, n: RegionNode) {
    const clock = new RegionClock(this.q, () => this.nowMs, n.rate, n.offsetMs);
    let agent: OwnershipAgent | null = null;
    const alive = () => agent !== null && n.agent === agent;
    const replicator = new SimReplicator({
      region: r, peers: this.o.regions.filter((x) => x !== r), clock, alive,
      storeOf: (x) => this.stores.get(x) as SimStore,
      linkState: (peer) => this.linkState(r, peer),
      send: (to, deliver) => this.net.send(r, to, deliver),
      sendOrdered: (to, deliver) => this.net.sendOrdered(r, to, deliver),
      replicatorOf: (x) => this.regions.get(x)?.replicator ?? null,
    });
    const driver = new HandoverDriver({
      clock, log: silentLogger(), targetUpMsMin: this.o.leaseMs,
      upSinceMs: (peer) => (this.linkState(r, peer) === 'down' ? null : n.linkUpSince.get(peer) ?? null),
      peers: () => replicator.status(),
      waitForAck: (peer, seq, ms) => replicator.waitForAck(peer, seq, ms),
      compare: (peer, _ks, p) => replicator.compareRoots(peer, p),
      // ask the witness now, not at the next tick (witness-authority.ts: runner.tick())
      drained: (ks, p) => { if (alive() && agent?.releaseDrained(ks, p)) this.q.push(this.nowMs, () => this.tickNow(r)); },
      aborted: (ks, p) => { if (alive()) agent?.abortRelease(ks, p, clock.monoMs()); },
      drainMsMax: (this.o.fence as FenceModelOptions).drainMsMax,
    });
    this.drivers.add(driver);
    return { driver, replicator, bind: (a: OwnershipAgent) => { agent = a; } };
  }

  /** The previous owner's hint reached `to`: taken only from the owner it knows, for the next epoch; it renews at once. */
  private ownerHint(to: string, keyspace: string, partition: number, epoch: number, from: string): void {
    const agent = this.regions.get(to)?.agent;
    if (agent?.learnFromPreviousOwner(keyspace, partition, to, epoch, from)) this.tickNow(to);
  }

  private tickNow(r: string): void {
    const n = this.regions.get(r) as RegionNode;
    if (n.agent) this.tickRegion(r, n, n.agent);
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
    for (const peer of this.o.regions) if (peer !== r) agent.setPeerLink(peer, this.linkState(r, peer));
    const out = agent.tick(now);
    for (const { voter, request } of out.confirms) {
      if (voter === WITNESS) this.toWitness(r, agent, (w) => w.confirm(request, this.witnessMs()), (reply) => agent.onConfirmReply(reply, this.localMs(r)));
      else this.toPeer(r, voter, request, agent);
    }
    for (const g of out.grants) {
      const heldMs = this.onGrantSent?.(r, g);
      if (heldMs !== undefined) {
        this.q.push(this.nowMs + heldMs, () => this.sendGrant(r, agent, g));
        continue;
      }
      this.sendGrant(r, agent, g);
    }
    if (out.heartbeat) {
      const hb = out.heartbeat;
      this.toWitness(r, agent, (w) => w.heartbeat(hb, this.witnessMs()), (reply) => agent.onHeartbeatReply(reply, this.localMs(r)));
    }
    n.gateway?.tick();
    n.replicator?.ship();
  }

  private sendGrant(r: string, agent: OwnershipAgent, g: GrantRequest): void {
    this.toWitness(r, agent, (w) => {
      const plan = w.planGrant(g, this.witnessMs(), this.nowMs);
      if (plan.change) {
        this.witnessDurable = w.snapshot(plan.change);
        this.durableEpochs[plan.change.entry.partition] = plan.change.entry.epoch;
        w.commit(plan.change, this.witnessMs());
        this.grants++;
        this.lastGrantAtMs[plan.change.entry.partition] = this.nowMs;
        this.log(`grant ${plan.change.key} -> ${plan.change.entry.owner}@${plan.change.entry.epoch} (${g.reason} by ${g.from})`);
      }
      return plan.reply;
    }, (reply) => agent.onGrantReply(reply, this.localMs(r)));
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
        s.ackedAtMs = this.nowMs;
        s.acks++;
        this.onAck?.(region, p, epoch);
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

  /** Called on every acknowledged fenced write (after the split-brain check). */
  onAck: ((region: string, partition: number, epoch: number) => void) | null = null;

  /**
   * Runs events until `untilMs`, checking invariants after each; `onStep` may observe and
   * answer true to stop early. While a handover drains, the promises of the real
   * `HandoverDriver` settle after each event, at that event's time (the microtask queue is
   * emptied before the next event), so runs still replay exactly.
   */
  async runUntil(untilMs: number, onStep?: () => boolean | void): Promise<void> {
    for (;;) {
      const e = this.q.pop();
      if (!e) break;
      if (e.atMs > untilMs) {
        this.q.push(e.atMs, e.run);
        break;
      }
      this.nowMs = e.atMs;
      e.run();
      if (this.drivers.size > 0 && this.draining()) await new Promise<void>((resolve) => setImmediate(resolve));
      this.events++;
      this.check();
      if (onStep?.() === true) return;
    }
    this.nowMs = untilMs;
  }

  private draining(): boolean {
    let any = false;
    for (const d of this.drivers) {
      if (d.runningCount() > 0) any = true;
      else if (!this.isLiveDriver(d)) this.drivers.delete(d);
    }
    return any;
  }

  private isLiveDriver(d: HandoverDriver): boolean {
    for (const n of this.regions.values()) if (n.handover === d) return true;
    return false;
  }
}
