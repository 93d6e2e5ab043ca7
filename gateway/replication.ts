/**
 * Composes the replicator into the region: the store's log as the source, the store's apply
 * script as the sink (kicking the conflict worker when a batch left conflicts pending), and
 * the sync-replica wait of the write path.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { Replicator } from '../replicator/index.js';
import type { ApplyOutcome, ChangeSink } from '../replicator/types.js';
import type { LogEntry } from '../replicator/packed.js';
import type { LinkSettings } from '../replicator/handshake.js';
import type { LinkTls } from '../replicator/options.js';
import { createRecordCheck, type RecordCheck } from '../replicator/record-check.js';
import type { Clock } from '../infra/clock.js';
import type { GatewayConfig, KeyspaceConfig } from './config.js';
import type { PartitionMap } from './partition-map.js';
import type { RegionStore } from './store/index.js';
import { UnavailableError } from './errors.js';

export function createReplicator(deps: {
  config: GatewayConfig; store: RegionStore; clock: Clock; random: () => number; log: Logger; registry: Registry;
  maps: ReadonlyMap<string, PartitionMap>;
  onConflicts: () => void;
  /** Compared with each peer's at the link handshake (settings-check.ts). */
  settings?: LinkSettings;
  /** Cluster secrets and link TLS from the site's credentials (site-security.ts; reloadable). */
  security?: { secrets: () => readonly string[]; tls: LinkTls | undefined };
}): Replicator {
  const { config, store } = deps;
  const rejected = new Counter({
    name: 'geogate_records_rejected_total', help: 'Received records refused by the field check (placement, bounds, HLC drift); the link closes',
    labelNames: ['peer', 'reason'], registers: [deps.registry],
  });
  const check = recordCheckFor(config, deps.maps, () => deps.clock.nowMs());
  const sink: ChangeSink = {
    async apply(origin: string, incarnation: string, batch: readonly LogEntry[]): Promise<ApplyOutcome[]> {
      checkBatch(origin, batch, check, (reason) => rejected.inc({ peer: origin, reason }));
      const outcomes = await store.apply(origin, incarnation, batch);
      if (outcomes.includes('conflict')) deps.onConflicts();
      return outcomes;
    },
    appliedSeq: (origin, incarnation) => store.appliedSeq(origin, incarnation),
  };
  const r = config.replication;
  return new Replicator({
    region: config.region, clusterId: config.cluster.id, secret: config.cluster.secret,
    peers: config.peers.map((p) => ({ region: p.region, url: p.url, ...(p.urls ? { urls: p.urls } : {}) })),
    heartbeatMs: r.heartbeatMs, missedMax: r.missedMax, batchRecordsMax: r.batchRecordsMax,
    batchBytesMax: r.batchBytesMax, windowBatchesMax: r.windowBatchesMax, frameBytesMax: r.frameBytesMax,
    source: store.asLogSource(), sink, clock: deps.clock, random: deps.random, log: deps.log, registry: deps.registry,
    ...(deps.settings ? { settings: deps.settings } : {}),
    ...(deps.security ? { secrets: deps.security.secrets, ...(deps.security.tls ? { tls: deps.security.tls } : {}) } : {}),
  });
}

/** The field check of received records under this region's placement and limits. */
export function recordCheckFor(config: GatewayConfig, maps: ReadonlyMap<string, PartitionMap>, nowMs: () => number): RecordCheck {
  return createRecordCheck({
    keyspaces: new Map([...maps].map(([name, map]) => [name, { partitions: map.keyspace.partitions, place: (key: Uint8Array) => map.placeBytes(key) }])),
    merkleBuckets: config.merkle.buckets, keyBytesMax: config.limits.keyBytesMax, valueBytesMax: config.limits.valueBytesMax,
    regions: config.cluster.regions, hlcAheadMsMax: config.replication.hlcAheadMsMax, nowMs,
  });
}

/**
 * Refuses a batch holding a record the field check rejects, before anything of it is applied:
 * the error closes the link with the record's problem as the reason (the receiver's apply
 * failure path), nothing is applied or acked, and the peer resends from our cursor once the
 * cause (a placement or clock disagreement) is fixed. A wrong partition or bucket would
 * otherwise write leaves into digests that then never agree again.
 */
export function checkBatch(origin: string, batch: readonly LogEntry[], check: RecordCheck, count: (reason: string) => void): void {
  for (const entry of batch) {
    const problem = check(entry.bytes);
    if (problem) {
      count(problem.reason);
      throw new RecordRejectedError(`record from ${origin} refused (${problem.reason}): ${problem.message}`);
    }
  }
}

export class RecordRejectedError extends Error {
  override readonly name = 'RecordRejectedError';
}

/**
 * The write path's wait for `sync` replicas: the PUT returns only after each sync replica of
 * the partition acked the write's log entry. On timeout, `fail` answers 503 (the write stays
 * and replicates asynchronously); `demote` logs the decision once and stops waiting for that
 * replica in that keyspace.
 */
/** What a sync-replica wait asks: the replicator itself, or the coordinator's board (coordination/board.ts). */
export interface AckSource {
  waitForAck(peer: string, seq: number, timeoutMs: number): Promise<boolean>;
}

export class SyncReplicas {
  private readonly demoted = new Set<string>();
  /** keyspace → partition → its sync replicas other than this region (from the static node lists). */
  private readonly syncReplicas = new Map<string, string[][]>();

  constructor(
    region: string,
    maps: ReadonlyMap<string, PartitionMap>,
    /** Where acknowledgements are learnt now: the coordinator's replicator, or the coordinator's board in Redis on another instance. */
    private readonly replicator: () => AckSource | undefined,
    private readonly log: Logger,
  ) {
    for (const [name, map] of maps) {
      this.syncReplicas.set(name, Array.from({ length: map.keyspace.partitions }, (_, p) =>
        map.nodeList(p).filter((n) => n.replication === 'sync' && n.region !== region).map((n) => n.region)));
    }
  }

  async wait(ks: KeyspaceConfig, partition: number, seq: number): Promise<void> {
    const all = this.syncReplicas.get(ks.name)?.[partition];
    if (!all || all.length === 0) return; // the common case: nothing to wait for, nothing allocated
    const replicas = all.filter((region) => !this.demoted.has(`${ks.name}/${region}`)).map((region) => ({ region }));
    if (replicas.length === 0) return;
    const replicator = this.replicator();
    if (!replicator) throw new UnavailableError('sync replica configured but this instance runs no replication (no peers, or not the region\'s coordinator)', 'sync_replica_unavailable');
    const acks = await Promise.all(replicas.map((n) => replicator.waitForAck(n.region, seq, ks.syncTimeoutMs).catch(() => false)));
    const missing = replicas.filter((_, i) => !acks[i]).map((n) => n.region);
    if (missing.length === 0) return;
    if (ks.onSyncTimeout === 'demote') {
      for (const region of missing) {
        this.demoted.add(`${ks.name}/${region}`);
        this.log.warn({ keyspace: ks.name, replica: region, syncTimeoutMs: ks.syncTimeoutMs }, 'sync replica did not ack in time: demoted to async (onSyncTimeout=demote)');
      }
      return;
    }
    throw new UnavailableError(
      `sync replica ${missing.join(', ')} did not acknowledge within ${ks.syncTimeoutMs} ms; the write is stored in this region and replicates asynchronously`,
      'sync_replica_timeout');
  }

  demotedReplicas(): string[] {
    return [...this.demoted];
  }
}
