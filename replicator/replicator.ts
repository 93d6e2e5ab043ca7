/**
 * The replicator of one region: one authenticated WebSocket link per peer (the smaller
 * region name dials, the other serves on the gateway's own port), log shipping with a
 * bounded window, in-order apply with acks, heartbeats that fill silences, a failure
 * detector per peer, sync-replica ack waits, log trimming through the minimum acked
 * cursor, and control topics for later protocols.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { WebSocket } from 'ws';
import type { TimerHandle } from '../infra/clock.js';
import { childLogger, type Logger } from '../infra/log.js';
import { PROTOCOL_VERSION, type HeartbeatFrame } from './codec.js';
import { ControlRegistry, type ControlHandler } from './control.js';
import type { PeerStateChange } from './detector.js';
import { PeerDialer } from './dialer.js';
import { HandshakeError, UnknownPeerError } from './errors.js';
import { dialerHandshake, serverHandshake, type HandshakeContext, type HandshakeResult } from './handshake.js';
import { WsLink, type FrameChannel } from './link.js';
import { createMetrics, type ReplicatorMetrics } from './metrics.js';
import { parseReplicatorOptions, type ParsedReplicatorOptions, type ReplicatorOptions } from './options.js';
import { Peer } from './peer.js';
import type { LogGap } from './sender.js';
import { attachReplicationServer, type ReplicationServerHandle } from './server.js';
import { PeerSession } from './session.js';
import { newMarkId, type RepairMarkStore } from './repair-marks.js';
import { TailCache } from './tail-cache.js';
import type { ApplyOutcome, LogSource, PeerStatus } from './types.js';

export type PeerStateListener = (change: PeerStateChange) => void;
export type NeedsRepairListener = (peer: string, gap: LogGap) => void;
/** A link was established: the peer's cursor into our log, for the incarnation it refers to. */
export type CursorListener = (event: CursorEvent) => void;
export interface CursorEvent {
  readonly peer: string;
  readonly cursor: number;
  readonly ownIncarnation: string;
  /** Set when the cursor is above our log's last seq (our store came back with older data). */
  readonly lastSeq?: number;
}

export class Replicator {
  readonly options: ParsedReplicatorOptions;
  private readonly log: Logger;
  private readonly metrics: ReplicatorMetrics;
  private readonly peers = new Map<string, Peer>();
  private readonly control = new ControlRegistry();
  private readonly stateListeners = new Set<PeerStateListener>();
  private readonly repairListeners = new Set<NeedsRepairListener>();
  private readonly cursorListeners = new Set<CursorListener>();
  private repairMarks: RepairMarkStore | null = null;
  private marksIssued = 0;
  private readonly servers: ReplicationServerHandle[] = [];
  private readonly handshake: HandshakeContext;
  private headSeq = 0;
  /** Fresh log entries from the write path; senders read it before the log (tail-cache.ts). */
  private readonly tail = new TailCache();
  private readonly shippingSource: LogSource;
  private trimmedSeq = 0;
  private lastTrimMs = -Infinity;
  private housekeeping: TimerHandle | null = null;
  private running = false;

  constructor(options: ReplicatorOptions) {
    this.options = parseReplicatorOptions(options);
    const o = this.options;
    this.log = childLogger(o.log, { component: 'replicator', region: o.region });
    this.metrics = createMetrics(o.registry, () => this.status());
    const suspectMs = o.heartbeatMs * o.missedMax;
    const limits = { suspectMs, downMs: Math.round(suspectMs * o.downFactor), ackWaitersMax: o.ackWaitersMax };
    for (const config of o.peers) this.peers.set(config.region, new Peer(config, o.region, o.clock, limits, (c) => this.emitState(c)));
    this.handshake = {
      region: o.region, clusterId: o.clusterId, secrets: o.secrets ?? (() => [o.secret]), clock: o.clock, timeoutMs: o.handshakeMs,
      isPeer: (region) => this.peers.has(region),
      incarnation: () => o.source.incarnation(),
      appliedSeq: (origin, incarnation) => o.sink.appliedSeq(origin, incarnation),
      settings: o.settings,
    };
    this.shippingSource = {
      read: (afterSeq, maxRecords, maxBytes) => {
        const cached = this.tail.read(afterSeq, maxRecords, maxBytes);
        this.metrics.tailReads.inc({ result: cached ? 'hit' : 'miss' });
        return cached ? Promise.resolve(cached) : o.source.read(afterSeq, maxRecords, maxBytes);
      },
      bounds: () => o.source.bounds(),
      trimThrough: (seq) => o.source.trimThrough(seq),
      incarnation: () => o.source.incarnation(),
    };
  }

  /** Serves incoming links on the gateway's HTTP server (upgrade on /v1/replication). */
  attach(server: Server): void {
    const tls = this.options.tls;
    this.servers.push(attachReplicationServer(server, {
      frameBytesMax: this.options.frameBytesMax,
      onConnection: (ws, _req, identity) => this.accept(ws, identity?.regions),
      ...(tls ? { identify: (req: IncomingMessage) => tls.identify(req), onRefused: (problem: string, req: IncomingMessage) => this.refuseCertificate(problem, req) } : {}),
    }));
  }

  /** Dials the peers this region is responsible for and starts housekeeping. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const peer of this.peers.values()) {
      if (peer.dials) this.startDialer(peer);
    }
    this.tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.housekeeping?.cancel();
    for (const server of this.servers.splice(0)) server.close();
    for (const peer of this.peers.values()) {
      peer.dialer?.stop();
      peer.session?.channel.close('replicator stopping', 'shutdown');
      peer.detector.stop();
      peer.waiters.failAll();
      peer.linkState = 'stopped';
    }
    this.metrics.unregister();
  }

  /**
   * A local write was appended to our log (pass its seq when known, and the packed entry
   * when at hand: a sender that keeps up then ships it without reading the log): ship
   * without waiting.
   */
  notifyAppended(seq?: number, packed?: Uint8Array): void {
    if (seq !== undefined && packed !== undefined) this.tail.add({ seq, bytes: packed });
    if (seq !== undefined && seq > this.headSeq) this.headSeq = seq;
    for (const peer of this.peers.values()) {
      if (seq !== undefined) peer.updateBehind(this.headSeq);
      peer.session?.sender.notifyAppended(seq === undefined ? undefined : this.headSeq);
    }
  }

  /**
   * Our log restarted from seq 1 (the store lost its data; the caller already made the
   * store answer a new incarnation): forget what we knew of the old log — head, trim point,
   * tail, every peer's cursor — fail pending sync waits, and close every link now. The links
   * come back under the new incarnation, the peers' cursors start from 0, and no ack of the
   * old log can satisfy a wait for the new one, nor a trim cut through new entries.
   */
  resetLog(reason: string): void {
    this.headSeq = 0;
    this.trimmedSeq = 0;
    this.tail.clear();
    for (const peer of this.peers.values()) {
      peer.ackedSeq = null;
      peer.waiters.failAll();
      peer.updateBehind(0);
      peer.session?.channel.close(`our log restarted: ${reason}`, 'restart');
    }
  }

  /** Resolves true once `peer` acked our log through `seq`; false on timeout or link down. */
  waitForAck(peerRegion: string, seq: number, timeoutMs: number): Promise<boolean> {
    const peer = this.peer(peerRegion);
    if ((peer.ackedSeq ?? 0) >= seq) return Promise.resolve(true);
    if (!peer.session) return Promise.resolve(false);
    return peer.waiters.wait(seq, timeoutMs);
  }

  status(): PeerStatus[] {
    return [...this.peers.values()].map((peer) => peer.status(this.headSeq));
  }

  /** Lowest seq every peer acked (null while some peer's cursor is unknown): safe to trim through. */
  minAckedSeq(): number | null {
    let min: number | null = null;
    for (const peer of this.peers.values()) {
      if (peer.ackedSeq === null) return null;
      min = min === null ? peer.ackedSeq : Math.min(min, peer.ackedSeq);
    }
    return min;
  }

  onPeerState(listener: PeerStateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onNeedsRepair(listener: NeedsRepairListener): () => void {
    this.repairListeners.add(listener);
    return () => this.repairListeners.delete(listener);
  }

  /**
   * Anti-entropy repaired the peer: clears the needs-repair flag — only when `mark` (the
   * mark the finished repair began under, `repairMark`) is still the current one: a hole
   * reported after that repair began keeps the flag. Removes the durable mark too.
   */
  clearNeedsRepair(peerRegion: string, mark?: string | null): void {
    const peer = this.peer(peerRegion);
    if (mark !== undefined && mark !== null && peer.repairMark !== mark) return;
    const cleared = peer.repairMark;
    peer.needsRepair = false;
    peer.repairMark = null;
    if (cleared !== null && this.repairMarks) {
      this.repairMarks.clear(peerRegion, cleared).catch((err: Error) =>
        this.log.warn({ peer: peerRegion, err: err.message }, 'durable needs-repair mark not removed; the next start repairs once more'));
    }
  }

  /** The peer's current needs-repair mark (null when none); pass it back to clearNeedsRepair. */
  repairMark(peerRegion: string): string | null {
    return this.peer(peerRegion).repairMark;
  }

  /**
   * Marks a peer needs-repair (durably when a mark store is in use) and tells the
   * listeners: anti-entropy repairs every partition shared with it, then clears the mark.
   */
  markNeedsRepair(peerRegion: string, why: string, gap: LogGap = { afterSeq: 0, firstSeq: 0 }): void {
    const peer = this.peer(peerRegion);
    const mark = newMarkId(this.options.random, ++this.marksIssued);
    peer.needsRepair = true;
    peer.repairMark = mark;
    this.log.warn({ peer: peerRegion, why, mark }, 'peer marked needs-repair');
    this.repairMarks?.set(peerRegion, mark).catch((err: Error) =>
      this.log.error({ peer: peerRegion, err: err.message }, 'durable needs-repair mark not written: a restart before the repair finished would forget it'));
    for (const listener of this.repairListeners) listener(peerRegion, gap);
  }

  /**
   * Keeps needs-repair marks in `store` from now on and takes over the marks it holds (set
   * before a restart: the repair they ask for never finished). Resolves once loaded.
   */
  async useRepairMarks(store: RepairMarkStore): Promise<void> {
    this.repairMarks = store;
    const held = await store.load();
    for (const [region, mark] of held) {
      const peer = this.peers.get(region);
      if (!peer) continue;
      if (peer.repairMark !== null) continue; // marked in this process meanwhile: that one is newer
      peer.needsRepair = true;
      peer.repairMark = mark;
      this.log.warn({ peer: region, mark }, 'needs-repair mark from before the restart: repairing');
      for (const listener of this.repairListeners) listener(region, { afterSeq: 0, firstSeq: 0 });
    }
    // marks set before the store was in use (this process, early) are persisted now
    for (const peer of this.peers.values()) {
      if (peer.repairMark !== null && held.get(peer.region) !== peer.repairMark) await store.set(peer.region, peer.repairMark);
    }
  }

  /**
   * Every established link reports the peer's cursor (and, when it is above our log's last
   * seq, that seq): the gateway compares it with what it knows durably about its log.
   */
  onCursor(listener: CursorListener): () => void {
    this.cursorListeners.add(listener);
    return () => this.cursorListeners.delete(listener);
  }

  registerTopic(topic: string, handler: ControlHandler): () => void {
    return this.control.register(topic, handler);
  }

  /** Sends a control frame; false when the link is down or its send buffer is full. */
  sendControl(peerRegion: string, topic: string, body: unknown): boolean {
    const session = this.peer(peerRegion).session;
    if (!session || session.channel.bufferedBytes() > this.options.sendBufferBytesMax) return false;
    return session.channel.send({ t: 'ctl', v: PROTOCOL_VERSION, topic, body }) > 0;
  }

  private peer(region: string): Peer {
    const peer = this.peers.get(region);
    if (!peer) throw new UnknownPeerError(region);
    return peer;
  }

  private newLink(ws: WebSocket): WsLink {
    const o = this.options;
    return new WsLink(ws, { frameBytesMax: o.frameBytesMax, clock: o.clock, log: this.log, metrics: this.metrics });
  }

  private startDialer(peer: Peer): void {
    const o = this.options;
    peer.dialer = new PeerDialer({
      url: peer.config.url, urls: peer.config.urls ?? [peer.config.url], frameBytesMax: o.frameBytesMax, connectTimeoutMs: o.connectTimeoutMs, backoff: o.backoff,
      clock: o.clock, random: o.random, log: this.log.child({ peer: peer.region }),
      connect: (ws) => this.runDialed(peer, ws),
      onState: (state) => { if (!peer.session) peer.linkState = state; },
      tls: o.tls && /^(https|wss):/.test(peer.config.url) ? () => o.tls!.dial(peer.region) : undefined,
      onCertificateRefused: (message) => {
        peer.lastCloseReason = `TLS: ${message}`;
        this.metrics.authFailures.inc({ peer: peer.region, reason: 'certificate' });
      },
    });
    peer.dialer.start();
  }

  private async runDialed(peer: Peer, ws: WebSocket): Promise<boolean> {
    const link = this.newLink(ws);
    const closed = new Promise<void>((resolve) => link.onClosed(() => resolve()));
    peer.linkState = 'handshaking';
    let result: HandshakeResult;
    try {
      result = await dialerHandshake(link, this.handshake, peer.region);
    } catch (err) {
      this.refuse(link, err, peer.region);
      await closed;
      return false;
    }
    this.establish(peer, link, result);
    await closed;
    return true;
  }

  /** A TLS upgrade refused before the handshake: no certificate of the cluster CA. */
  private refuseCertificate(problem: string, req: IncomingMessage): void {
    this.metrics.authFailures.inc({ peer: 'unknown', reason: 'certificate' });
    this.log.warn({ peer: 'unknown', reason: 'certificate', detail: problem, remote: req.socket.remoteAddress }, 'replication link refused');
  }

  private accept(ws: WebSocket, certRegions?: readonly string[]): void {
    if (!this.running) return void ws.terminate();
    const link = this.newLink(ws);
    serverHandshake(link, this.handshake, certRegions).then(
      (result) => {
        const peer = this.peer(result.peer);
        if (peer.dials) return link.close(`${this.options.region} dials ${peer.region}, not the reverse`, 'protocol');
        this.establish(peer, link, result);
      },
      (err: unknown) => this.refuse(link, err, undefined),
    );
  }

  private refuse(link: FrameChannel, err: unknown, dialled: string | undefined): void {
    if (!(err instanceof HandshakeError)) {
      this.log.error({ err, peer: dialled }, 'replication handshake failed');
      return link.close(`handshake failed: ${(err as Error).message}`, 'error');
    }
    const peer = err.peer ?? dialled ?? 'unknown';
    const known = this.peers.get(peer);
    if (known) known.lastCloseReason = `handshake refused (${err.reason}): ${err.message}`;
    this.metrics.authFailures.inc({ peer: known ? peer : 'unknown', reason: err.reason });
    this.log.warn({ peer, reason: err.reason, detail: err.message }, 'replication link refused');
    link.close(err.message, err.reason === 'version' ? 'version' : 'auth');
  }

  private establish(peer: Peer, link: WsLink, hello: HandshakeResult): void {
    if (!this.running) return link.close('replicator stopping', 'shutdown');
    peer.session?.channel.close('replaced by a newer link', 'replaced');
    link.peer = peer.region;
    const log = this.log.child({ peer: peer.region });
    const o = this.options;
    const session = new PeerSession(link, hello, {
      source: this.shippingSource, sink: o.sink, clock: o.clock, log, control: this.control, heartbeatMs: o.heartbeatMs,
      receiveQueueBatchesMax: o.receiveQueueBatchesMax,
      sender: { batchRecordsMax: o.batchRecordsMax, batchBytesMax: o.batchBytesMax, windowBatchesMax: o.windowBatchesMax, pollMs: o.pollMs },
    }, {
      onHeard: () => peer.detector.heard(),
      onHealth: (hb: HeartbeatFrame) => { peer.remote = { lagMs: hb.lagMs, lagEntries: hb.lagEntries, queue: hb.queue, loadPermille: hb.loadPermille, fenced: hb.fenced }; },
      onOutcomes: (outcomes) => this.countOutcomes(peer.region, outcomes),
      onAcked: (seq) => this.acked(peer, seq),
      onGap: (gap) => this.gap(peer, gap, log),
      onIncarnationChanged: () => link.close('our log incarnation changed', 'restart'),
      onCursorAhead: (cursor, lastSeq) => this.emitCursor({ peer: peer.region, cursor, ownIncarnation: hello.ownIncarnation, lastSeq }),
      health: () => ({ lagMs: Math.round(peer.lagMs()), lagEntries: peer.lagEntries(this.headSeq), queue: 0, ...this.localHealth() }),
    });
    peer.session = session;
    peer.linkState = 'established';
    peer.ackedSeq = hello.cursor;
    peer.updateBehind(this.headSeq);
    link.onClosed((reason) => {
      session.stop();
      if (peer.session !== session) return;
      peer.session = null;
      peer.lastCloseReason = reason;
      peer.linkState = peer.dials && this.running ? 'backoff' : this.running ? 'idle' : 'stopped';
      peer.waiters.failAll();
      peer.detector.linkClosed(reason);
      log.info({ reason }, 'replication link closed');
    });
    log.info({ cursor: hello.cursor, peerIncarnation: hello.peerIncarnation }, 'replication link established');
    peer.detector.heard();
    this.emitCursor({ peer: peer.region, cursor: hello.cursor, ownIncarnation: hello.ownIncarnation });
    session.start();
  }

  private localHealth(): { loadPermille: number; fenced: readonly number[] } {
    const health = this.options.health?.();
    return { loadPermille: Math.max(0, Math.round(health?.loadPermille ?? 0)), fenced: health?.fenced ?? [] };
  }

  private acked(peer: Peer, seq: number): void {
    peer.ackedSeq = seq;
    if (seq > this.headSeq) this.headSeq = seq;
    peer.updateBehind(this.headSeq);
    peer.waiters.acked(seq);
  }

  private gap(peer: Peer, gap: LogGap, log: Logger): void {
    this.metrics.logGaps.inc({ peer: peer.region });
    log.warn({ afterSeq: gap.afterSeq, firstSeq: gap.firstSeq }, 'peer cursor is behind the trimmed log: needs anti-entropy repair');
    this.markNeedsRepair(peer.region, `log trimmed past the peer's cursor (after ${gap.afterSeq}, first ${gap.firstSeq})`, gap);
  }

  private emitCursor(event: CursorEvent): void {
    for (const listener of this.cursorListeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err, peer: event.peer }, 'cursor listener failed');
      }
    }
  }

  private countOutcomes(peer: string, outcomes: readonly ApplyOutcome[]): void {
    for (const outcome of outcomes) {
      this.metrics.appliedRecords.inc({ peer, outcome });
      if (outcome === 'conflict') this.metrics.conflicts.inc({ peer });
    }
  }

  private emitState(change: PeerStateChange): void {
    this.log.info({ peer: change.peer, from: change.from, to: change.to, reason: change.reason }, 'peer state changed');
    for (const listener of this.stateListeners) listener(change);
  }

  /** Housekeeping every pollMs: refresh the log head (lag) and trim through the min acked cursor. */
  private tick(): void {
    if (!this.running) return;
    void this.refreshAndTrim();
    this.housekeeping = this.options.clock.setTimer(this.options.pollMs, () => this.tick());
  }

  private async refreshAndTrim(): Promise<void> {
    const o = this.options;
    try {
      const bounds = await o.source.bounds();
      if (bounds.lastSeq > this.headSeq) this.headSeq = bounds.lastSeq;
      for (const peer of this.peers.values()) peer.updateBehind(this.headSeq);
      const min = this.minAckedSeq();
      const now = o.clock.monoMs();
      if (o.trimIntervalMs > 0 && min !== null && min > this.trimmedSeq && now - this.lastTrimMs >= o.trimIntervalMs) {
        this.lastTrimMs = now;
        await o.source.trimThrough(min);
        this.trimmedSeq = min;
      }
    } catch (err) {
      this.log.warn({ err }, 'log housekeeping failed');
    }
  }
}
