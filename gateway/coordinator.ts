/**
 * The region coordinator role: the replication links, the witness agent (ownership leases),
 * anti-entropy, the conflict and action workers and retention. With one instance per region
 * it starts once at boot; with `coordination.enabled` it starts when this instance is
 * elected (coordination/election.ts) and stops the moment it is not, each term with its own
 * metrics registry (the components register their metrics once per term).
 */
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../infra/clock.js';
import { BoardPublisher } from './coordination/board.js';
import { LogHeadWatch, appendChannel } from './coordination/append-signal.js';
import { createStoreConnection } from './store/connection.js';
import { childLogger } from '../infra/log.js';
import type { GatewayConfig, KeyspaceConfig } from './config.js';
import type { PartitionMap } from './partition-map.js';
import type { ConflictStore, RegionStore } from './store/index.js';
import type { MerkleStore } from './store/merkle-store.js';
import type { RedisRepairMarks } from './store/repair-marks.js';
import { ConflictWorker } from './merge/conflict-worker.js';
import { ActionWorker } from './merge/action-worker.js';
import { RetentionSweeper } from './merge/retention.js';
import { createReplicator } from './replication.js';
import type { SettingsCheck } from './settings-check.js';
import { REPLICATION_PATH, type Replicator } from '../replicator/index.js';
import type { TriggerRegistry } from '../conflict/index.js';
import { WitnessAuthority } from './ownership/witness-authority.js';
import type { RollbackGuard } from './rollback-guard.js';
import { AntiEntropy } from '../replicator/anti-entropy/index.js';
import type { WriteAuthority } from './authority.js';
import type { SiteSecurity } from './site-security.js';
import type { GatewayContext } from './http/context.js';
import type { GatewayMetrics } from './metrics.js';
import { CoordinatorElection, RedisLeaseStore } from './coordination/index.js';

export interface CoordinatorDeps {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly random: () => number;
  readonly root: Logger;
  readonly store: RegionStore;
  /** The store on the replication connection (log reads, applies). */
  readonly replicationStore: RegionStore;
  readonly redis: Redis;
  readonly maps: ReadonlyMap<string, PartitionMap>;
  readonly keyspaces: ReadonlyMap<string, KeyspaceConfig>;
  readonly conflicts: ConflictStore;
  readonly merkleStore: MerkleStore;
  readonly settingsCheck: SettingsCheck;
  readonly security: SiteSecurity;
  /** The instance's write authority (the bootstrap gate over the role's ownership). */
  readonly authority: WriteAuthority;
  readonly triggers: TriggerRegistry;
  readonly rollbackGuard: RollbackGuard;
  /** This instance's writes are open (its bootstrap gate): published on the board for the others. */
  readonly writesOpen?: () => boolean;
  readonly repairMarks: RedisRepairMarks;
  readonly context: GatewayContext;
  readonly server: Server;
  /**
   * The log's incarnation in Redis is not the one this instance's senders ship under: another
   * instance found the store rolled back or lost and started a new one. Handled as the loss
   * it is (new incarnation, links reset, repair with every peer).
   */
  readonly onLogRenewedElsewhere?: (why: string) => void;
}

export interface CoordinatorRole {
  readonly registry: Registry;
  readonly replicator: Replicator | undefined;
  readonly ownership: WitnessAuthority | undefined;
  readonly antiEntropy: AntiEntropy | undefined;
  readonly conflictWorker: ConflictWorker;
  /** Stops every component at once (the links close, no timer of the role fires again). */
  stop(): Promise<void>;
}

/** Builds and starts the coordinator role (`bootstrap`: the store started empty, pull every partition). */
export async function startRegionCoordinator(d: CoordinatorDeps, term: { registry: Registry; bootstrap: boolean; token?: number }): Promise<CoordinatorRole> {
  const { config, clock, root, store, maps } = d;
  const registry = term.registry;
  let conflictWorker: ConflictWorker | undefined;
  let antiEntropy: AntiEntropy | undefined;
  const replicator = config.peers.length > 0 ? createReplicator({
    config, store: d.replicationStore, clock, random: d.random, log: root, registry, maps,
    onConflicts: () => conflictWorker?.kick(), settings: d.settingsCheck.link(),
    security: { secrets: () => d.security.credentials.secrets(), tls: d.security.linkTls },
  }) : undefined;
  const ownership = config.witness && replicator ? await WitnessAuthority.create({
    config, maps, replicator, redis: d.redis, ownersKey: `${config.redis.keyPrefix}owners`, clock,
    log: childLogger(root, { component: 'ownership' }), registry,
    ...(term.token === undefined ? {} : { term: term.token }),
    setFence: (ks, p, epoch, endMs) => store.setFence(ks, p, epoch, endMs),
    dropFence: (ks, p) => store.dropFence(ks, p),
    writeOwner: (field, value) => store.writeOwner(`${config.redis.keyPrefix}owners`, field, value),
    witnessTransport: { secret: () => d.security.credentials.signingSecret(), tls: d.security.witnessTls },
    compareRoots: config.antiEntropy.enabled
      ? (region, ks, p) => antiEntropy?.partitionInSync(region, ks, p) ?? Promise.resolve(false)
      : null,
    onHeal: (ks, p, owner) => {
      antiEntropy?.repairPartition(owner, ks, p).catch((err: Error) =>
        root.warn({ component: 'gateway', keyspace: ks, partition: p, owner, err: err.message }, 'merge of a diverged partition failed; background anti-entropy retries'));
    },
  }) : undefined;
  if (replicator && config.antiEntropy.enabled) {
    const { enabled: _enabled, bootstrapWriteWaitMs: _wait, ...aeOptions } = config.antiEntropy;
    antiEntropy = new AntiEntropy({
      region: config.region, store: d.merkleStore, links: replicator, maps, clock, log: root,
      onConflicts: () => conflictWorker?.kick(),
      options: { ...aeOptions, frameBytesMax: config.replication.frameBytesMax, messageBytesMax: Math.min(1 << 20, Math.floor(config.replication.frameBytesMax / 4)) },
    });
  }
  conflictWorker = new ConflictWorker({
    region: config.region, store, conflicts: d.conflicts, keyspaces: d.keyspaces, authority: d.authority, triggers: d.triggers, clock, registry,
    valueBytesMax: config.limits.valueBytesMax, log: childLogger(root, { component: 'conflicts' }), onLocalWrite: (seq) => replicator?.notifyAppended(seq),
  });
  const actionWorker = new ActionWorker(d.conflicts, { clock, log: childLogger(root, { component: 'actions' }), registry, outboxMaxAgeMs: config.conflicts.outboxMaxAgeMs });
  const retention = new RetentionSweeper(d.conflicts, config.conflicts, { clock, log: childLogger(root, { component: 'retention' }), registry }, config.conflicts.sweepIntervalMs);
  const offCursor = replicator?.onCursor((e) => d.rollbackGuard.onCursor(e));
  if (replicator) await replicator.useRepairMarks(d.repairMarks).catch(() => {}); // read again at the next Redis (re)connect
  d.context.antiEntropy = antiEntropy;
  replicator?.attach(d.server);
  replicator?.start();
  antiEntropy?.start({ bootstrap: term.bootstrap });
  ownership?.start();
  conflictWorker.start();
  actionWorker.start();
  retention.start();
  // with several instances: the others' writes (the head of the log), the board they read
  // (the other instances' append messages on a subscriber connection of its own, a slow poll under them)
  const headWatch = config.coordination.enabled && replicator ? new LogHeadWatch({
    store, shipping: () => d.replicationStore.knownIncarnation(), clock, log: childLogger(root, { component: 'head-watch' }),
    onHead: (seq) => replicator.notifyAppended(seq), onRenewedElsewhere: (why) => d.onLogRenewedElsewhere?.(why),
    subscriber: createStoreConnection(config.redis, childLogger(root, { component: 'head-watch' })), channel: appendChannel(config.redis.keyPrefix),
  }) : undefined;
  headWatch?.start();
  const board = config.coordination.enabled ? new BoardPublisher(store, {
    keyspaces: ownership ? config.keyspaces : [], authority: ownership ?? d.authority,
    acked: () => new Map((replicator?.status() ?? []).map((s) => [s.region, s.ackedSeq] as const)),
    shipped: () => {
      const incarnation = d.replicationStore.knownIncarnation();
      return incarnation === undefined ? null : { incarnation, seq: store.headSeq() };
    },
    // the other instances' writes wait for this (coordination/region-check.ts): the check
    // ended and this instance's own writes are open (the bootstrap of an empty store done)
    regionChecked: () => !d.rollbackGuard.pending() && (d.writesOpen?.() ?? true),
    counterFloor: () => store.counterFloorState(),
  }, clock, childLogger(root, { component: 'board' })) : undefined;
  board?.start();
  const worker = conflictWorker;
  return {
    registry, replicator, ownership, antiEntropy, conflictWorker: worker,
    async stop() {
      if (d.context.antiEntropy === antiEntropy) d.context.antiEntropy = undefined;
      headWatch?.stop();
      board?.stop();
      antiEntropy?.stop();
      worker.stop();
      actionWorker.stop();
      retention.stop();
      ownership?.stop();
      offCursor?.();
      await replicator?.stop();
    },
  };
}

export interface ElectionDeps {
  readonly redis: Redis;
  readonly store: RegionStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** This instance's listening URL (the default instance URL). */
  readonly url: string;
  readonly metrics: GatewayMetrics;
  readonly server: Server;
  /** `token`: the fencing token of the term the role runs under (the witness refuses a released failback of an older one). */
  startRole(registry: Registry, token: number): Promise<CoordinatorRole>;
  role(): CoordinatorRole | undefined;
  setRole(role: CoordinatorRole | undefined): void;
}

/** An instance id unique enough across restarts and hosts. */
export function defaultInstanceId(): string {
  return `${hostname().slice(0, 32)}-${process.pid}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9._:-]/g, '-');
}

/**
 * Stands for the region's coordinator: starts the role when elected, stops it at once when
 * the lease is lost (on this instance's clock), and refuses replication links while it is
 * not the coordinator (503 naming the coordinator's URL, counted, logged).
 */
export function runElection(config: GatewayConfig, d: ElectionDeps): CoordinatorElection {
  const c = config.coordination;
  const id = c.instanceId ?? defaultInstanceId();
  const url = c.instanceUrl ?? d.url;
  const log = d.log.child({ instance: id });
  const elections = new Counter({ name: 'geogate_coordinator_elections_total', help: 'Times this instance became the region\'s coordinator', registers: [d.metrics.registry] });
  const demotions = new Counter({ name: 'geogate_coordinator_demotions_total', help: 'Times this instance stopped being the region\'s coordinator (lease lost or stopping)', registers: [d.metrics.registry] });
  const refusedLinks = new Counter({ name: 'geogate_replication_links_refused_total', help: 'Replication links refused because this instance is not the region\'s coordinator', registers: [d.metrics.registry] });
  let transition: Promise<void> = Promise.resolve();
  const election: CoordinatorElection = new CoordinatorElection(
    { id, url, leaseMs: c.leaseMs, renewMs: c.renewMs, driftMarginMs: c.driftMarginMs },
    new RedisLeaseStore(d.redis, d.store.keys), d.clock, {
      onElected: (token) => {
        elections.inc();
        log.warn({ token }, 'this instance is the region\'s coordinator now: starting links, witness agent, anti-entropy and workers');
        transition = transition.then(async () => {
          if (!election.isCoordinator() || d.role()) return;
          const role = await d.startRole(new Registry(), token);
          d.setRole(role);
          if (!election.isCoordinator()) await stopRole('the lease ran out while the role started');
        }).catch((err: Error) => { log.error({ err: err.message }, 'the coordinator role did not start; this instance steps down'); void election.stop().then(() => election.start()); });
      },
      onDemoted: (why) => {
        demotions.inc();
        log.warn({ why }, 'this instance is not the region\'s coordinator any more: its coordinator role stops now');
        void stopRole(why);
      },
    });
  const stopRole = async (why: string): Promise<void> => {
    const role = d.role();
    if (!role) return;
    d.setRole(undefined);
    await role.stop().catch((err: Error) => log.warn({ err: err.message, why }, 'coordinator role stopped with an error'));
  };
  d.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    if (d.role()) return; // the role's replicator answers
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== REPLICATION_PATH) {
      if (d.server.listenerCount('upgrade') === 1) socket.destroy();
      return;
    }
    refusedLinks.inc();
    const coordinator = election.status().coordinator;
    const message = `this instance (${id}) is not the region's coordinator; ${coordinator ? `the coordinator is ${coordinator.id} at ${coordinator.url}` : 'none is elected right now'}`;
    log.info({ from: req.socket.remoteAddress, coordinator: coordinator?.url }, 'replication link refused: not the coordinator');
    const body = JSON.stringify({ error: { code: 'not_coordinator', message, coordinator: coordinator?.url ?? null } });
    socket.on('error', () => socket.destroy());
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-geogate-coordinator: ${coordinator?.url ?? ''}\r\nConnection: close\r\n\r\n${body}`);
  });
  election.start();
  return election;
}
