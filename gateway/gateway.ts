/**
 * The region process: HTTP API, partition maps, the region's store, and the composition
 * points for replication and ownership. `startGateway` returns once it listens; Redis may
 * still be down then (requests answer 503 until it is back). It composes the steps below in
 * order, each with its dependencies passed in: openStores, frontServices, storeLossHandlers,
 * writeGate, frontContext, bootChecks, startFront (HTTP), startCoordination (the coordinator
 * role: coordinator.ts), startExpiry, and closeGateway.
 */
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import { createStoreConnection, describeStore } from './store/connection.js';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { realClock, realRandom, type Clock } from '../infra/clock.js';
import { childLogger, createLogger } from '../infra/log.js';
import type { GatewayConfig, KeyspaceConfig } from './config.js';
import { PartitionMap } from './partition-map.js';
import { AppliedFrontier, ConflictStore, RegionStore, StoreLayoutError } from './store/index.js';
import type { ConflictWorker } from './merge/conflict-worker.js';
import { ExpirySweeper } from './expiry-sweep.js';
import { SyncReplicas } from './replication.js';
import { SettingsCheck } from './settings-check.js';
import { gatewaySettings } from './shared-settings.js';
import type { Replicator } from '../replicator/index.js';
import { loadTriggers } from '../conflict/index.js';
import { BootstrapGate } from './bootstrap-gate.js';
import { ROLLBACK_CHECK_WAIT_MS, RollbackGuard } from './rollback-guard.js';
import { RedisRepairMarks } from './store/repair-marks.js';
import type { AntiEntropy } from '../replicator/anti-entropy/index.js';
import { MerkleStore } from './store/merkle-store.js';
import { StaticAuthority } from './authority.js';
import { createGatewayMetrics, streamSizeGauges, type GatewayMetrics } from './metrics.js';
import { createApp } from './http/app.js';
import { createSiteSecurity, type SiteSecurity } from './site-security.js';
import type { GatewayContext } from './http/context.js';
import { NOT_COORDINATOR_TOKEN, RedisLeaseStore, type CoordinatorElection } from './coordination/index.js';
import { INSTANCE_FORGET_LEASES } from './coordination/lease-store.js';
import { delegatingAuthority, notCoordinatorAuthority } from './coordination/authority.js';
import { BOARD_REFRESH_MS, BoardReader } from './coordination/board.js';
import { AppendPublisher, appendChannel } from './coordination/append-signal.js';
import { RegionCheck, TermCheckedGate } from './coordination/region-check.js';
import { runElection, startRegionCoordinator, type CoordinatorDeps, type CoordinatorRole } from './coordinator.js';

export interface GatewayOptions {
  log?: Logger;
  clock?: Clock;
  random?: () => number;
  /** Directory that relative trigger module paths are resolved against (the config file's). */
  configDir?: string;
}

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  readonly config: GatewayConfig;
  readonly store: RegionStore;
  readonly server: Server;
  readonly context: GatewayContext;
  readonly conflicts: ConflictStore;
  readonly conflictWorker: ConflictWorker;
  readonly replicator: Replicator | undefined;
  readonly antiEntropy: AntiEntropy | undefined;
  /** Tombstones expired records of the partitions this region resolves (expiry-sweep.ts). */
  readonly expirySweeper: ExpirySweeper;
  /** False while a store that started empty waits for its bootstrap (writes answer 503 bootstrapping). */
  writesOpen(): boolean;
  /** Reads the secrets, tokens and certificates again (SIGHUP) without dropping links; false when one could not be read (the old stay). */
  reloadCredentials(): boolean;
  close(): Promise<void>;
}

export { REDIS_RETRY_DELAY_MS_MAX } from './store/connection.js';
/** Connections `durability: replica` writes spread over (each WAIT holds its connection for a replica round trip). */
export const REPLICA_WAIT_CONNECTIONS = 4;
/** How long boot waits for Redis before listening anyway. */
export const REDIS_READY_WAIT_MS = 3000;
/** How often the gateway checks that its Redis still holds its identity (has not lost its data). */
export const STORE_IDENTITY_CHECK_MS = 1000;

function waitReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { redis.off('ready', onReady); resolve(false); }, timeoutMs);
    const onReady = () => { clearTimeout(timer); resolve(true); };
    redis.once('ready', onReady);
  });
}

/** The partition of a key by the keyspaces' maps: where the store keeps its keys (store/keys.ts). */
export function partitionOfMaps(maps: ReadonlyMap<string, PartitionMap>): (keyspace: string, key: string) => number {
  return (keyspace, key) => {
    const map = maps.get(keyspace);
    if (!map) throw new Error(`no keyspace ${keyspace} in this gateway's config`);
    return map.place(key).partition;
  };
}

/** A connection to the region's Redis, standalone or through Sentinel (store/connection.ts). */
export function createRedis(config: GatewayConfig, log: Logger): Redis {
  return createStoreConnection(config.redis, log);
}

export async function startGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<RunningGateway> {
  const clock = opts.clock ?? realClock;
  // The region's root logger: each component binds its own `component` (pino appends child
  // bindings, so the root carries none); the gateway's own lines say `component: gateway`.
  const root = opts.log ?? createLogger({ region: config.region });
  const env: Env = { config, clock, root, log: childLogger(root, { component: 'gateway' }), configDir: opts.configDir ?? process.cwd() };
  const slot: RoleSlot = { role: undefined, election: undefined };
  const boot: BootState = { unknown: false };
  const stores = await openStores(env, slot);
  const front = frontServices(env, stores);
  const loss = storeLossHandlers(env, stores, front.metrics, slot);
  const writes = writeGate(env, stores, front.metrics, slot, boot, loss);
  const triggers = await loadTriggers(config.triggers, env.configDir);
  const context = frontContext(env, stores, front, writes, slot);
  const checks = await bootChecks(env, stores, writes.rollbackGuard, slot, boot);
  const { server, port, url } = await startFront(env, front.security, context);
  await startCoordination({
    config, clock, random: opts.random ?? realRandom, root, store: stores.store, replicationStore: stores.replicationStore, redis: stores.redis,
    maps: stores.maps, keyspaces: stores.keyspaces, conflicts: stores.conflicts, merkleStore: checks.merkleStore,
    onLogRenewedElsewhere: (why: string) => loss.storeLost(why),
    settingsCheck: front.settingsCheck, security: front.security, authority: writes.gate, triggers,
    // (the coordinator's own word on the board: its term's check and its bootstrap gate)
    rollbackGuard: writes.rollbackGuard, writesOpen: () => writes.bootstrapGate.isOpen(), repairMarks: checks.repairMarks, context, server,
  }, { slot, startedEmpty: checks.startedEmpty, url, log: env.log, metrics: front.metrics, board: writes.board, regionCheck: writes.regionCheck, electionRedis: stores.electionRedis });
  const expirySweeper = startExpiry(env, stores, front.metrics, writes, context, slot);
  env.log.info({ port, publicUrl: config.publicUrl, keyspaces: config.keyspaces.map((k) => k.name) }, 'gateway listening');
  return {
    url, port, config, store: stores.store, server, context, conflicts: stores.conflicts, expirySweeper,
    get conflictWorker() { if (!slot.role) throw new Error('this instance is not the region\'s coordinator: no conflict worker'); return slot.role.conflictWorker; },
    get replicator() { return slot.role?.replicator; },
    get antiEntropy() { return slot.role?.antiEntropy; },
    writesOpen: () => writes.gate.isOpen(),
    reloadCredentials: () => front.security.reload(),
    close: () => closeGateway(env, stores, front, writes, slot, { identityTimer: checks.identityTimer, expirySweeper, server }),
  };
}

/** What every step reads: the config, the clock, the root logger and the gateway's own. */
interface Env {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly root: Logger;
  readonly log: Logger;
  /** Directory relative paths of the config resolve against. */
  readonly configDir: string;
}

/**
 * The coordinator role this instance runs now (coordinator.ts; none while another instance
 * coordinates) and, with `coordination.enabled`, the election (started once listening). The
 * front reads it at every use: the role comes and goes with the coordinator lease.
 */
interface RoleSlot {
  role: CoordinatorRole | undefined;
  election: CoordinatorElection | undefined;
}

/** `unknown` while Redis has not answered at boot (whether the store started empty is not known yet; writes wait). */
interface BootState {
  unknown: boolean;
}

interface Stores {
  readonly redis: Redis;
  /** Connections `durability: replica` writes WAIT on. */
  readonly replicaWaitRedis: readonly Redis[];
  readonly replicationRedis: Redis | undefined;
  /**
   * With several instances per region: the coordinator lease's own connection. On the main
   * one the lease claim queued behind client writes and the fence renewals of a witness
   * round, and a loaded coordinator lost its term while it still worked (board-cost.test).
   */
  readonly electionRedis: Redis | undefined;
  readonly store: RegionStore;
  /** The store on the replication connection (log reads, applies); `store` without peers. */
  readonly replicationStore: RegionStore;
  readonly maps: ReadonlyMap<string, PartitionMap>;
  readonly keyspaces: ReadonlyMap<string, KeyspaceConfig>;
  readonly conflicts: ConflictStore;
}

/** The region's Redis connections and the stores on them; a store of another key layout is refused here. */
async function openStores(env: Env, slot: RoleSlot): Promise<Stores> {
  const { config, clock, root } = env;
  const redis = createRedis(config, childLogger(root, { component: 'store' }));
  const maps = new Map(config.keyspaces.map((ks) => [ks.name, new PartitionMap(ks, config.cluster.regions, config.merkle.buckets)]));
  // with several instances per region: the election (started once listening), whose token the
  // store's scripts that change shared state for the coordinator run under
  const coordinatorToken = config.coordination.enabled ? () => slot.election?.token() ?? NOT_COORDINATOR_TOKEN : undefined;
  const storeOptions = {
    region: config.region, prefix: config.redis.keyPrefix, partitionOf: partitionOfMaps(maps),
    logMaxEntries: config.log.maxEntries, logMaxBytes: config.log.maxBytes, nowMs: () => clock.nowMs(), monoMs: () => clock.monoMs(),
    // peers' outcomes remembered under the same bounds; one frontier for both stores (session tokens)
    idempotency: config.idempotency, frontier: new AppliedFrontier(), coordinatorToken,
  };
  // `durability: replica` writes WAIT for a replica on connections of their own (WAIT blocks
  // the connection it runs on: region-store.ts)
  const replicaWaitRedis = config.keyspaces.some((ks) => ks.durability === 'replica')
    ? Array.from({ length: REPLICA_WAIT_CONNECTIONS }, (_, i) => createRedis(config, childLogger(root, { component: 'store', connection: `replica-wait-${i}` }))) : [];
  const store = new RegionStore(redis, storeOptions, replicaWaitRedis);
  // a store of another key layout is refused before anything starts (a Redis that does not
  // answer yet is checked when it does: writes are refused on it until then)
  if (await waitReady(redis, REDIS_READY_WAIT_MS)) {
    try {
      await store.checkLayout();
    } catch (err) {
      if (!(err instanceof StoreLayoutError)) throw err;
      for (const r of [redis, ...replicaWaitRedis]) r.disconnect();
      throw err;
    }
  }
  // Replication reads the log and applies batches on a connection of its own, so its commands
  // do not queue behind the client writes pipelined on the main one (lag under load).
  const replicationRedis = config.peers.length > 0 ? createRedis(config, childLogger(root, { component: 'store', connection: 'replication' })) : undefined;
  // what the senders read may be shipped: the writing store must not hand those seqs out again
  const replicationStore = replicationRedis ? new RegionStore(replicationRedis, { ...storeOptions, onLogRead: (seq) => store.noteSeqSeen(seq) }) : store;
  const keyspaces = new Map<string, KeyspaceConfig>(config.keyspaces.map((ks) => [ks.name, ks]));
  const conflicts = new ConflictStore(redis, store.keys, {
    region: config.region, logMaxEntries: config.log.maxEntries, logMaxBytes: config.log.maxBytes,
    journalMaxEntries: config.conflicts.journalMaxEntries, journalMaxBytes: config.conflicts.journalMaxBytes,
    outboxMaxEntries: config.conflicts.outboxMaxEntries, deadLetterMaxEntries: config.conflicts.deadLetterMaxEntries,
    // resolutions and re-offers append to the log: the write's seq floor, and a store found
    // below it handled as the write's (the store's identity check reports the rollback)
    nowMs: () => clock.nowMs(), coordinatorToken, seqFloor: store,
  });
  const electionRedis = config.coordination.enabled ? createRedis(config, childLogger(root, { component: 'store', connection: 'election' })) : undefined;
  return { redis, replicaWaitRedis, replicationRedis, electionRedis, store, replicationStore, maps, keyspaces, conflicts };
}

interface FrontServices {
  readonly metrics: GatewayMetrics;
  readonly security: SiteSecurity;
  readonly settingsCheck: SettingsCheck;
  /** Region → public base URL, for 307 redirects. */
  readonly publicUrls: ReadonlyMap<string, string>;
}

/** Metrics, site security (secrets, tokens, TLS) and the shared-settings check. */
function frontServices(env: Env, stores: Stores): FrontServices {
  const { config, root, log } = env;
  const metrics = createGatewayMetrics(config.region);
  const security = createSiteSecurity(config, env.configDir, childLogger(root, { component: 'security' }), metrics.registry);
  const settingsCheck = new SettingsCheck(gatewaySettings(config, stores.maps), config.region, childLogger(root, { component: 'settings' }), metrics.registry);
  if (config.witness) settingsCheck.attachWitness(config.witness.url);
  metrics.storeUp.set(0);
  stores.redis.on('ready', () => metrics.storeUp.set(1));
  stores.redis.on('close', () => metrics.storeUp.set(0));
  const publicUrls = new Map<string, string>([[config.region, config.publicUrl], ...config.peers.map((p) => [p.region, p.publicUrl ?? p.url] as const)]);
  streamSizeGauges(metrics, () => stores.conflicts.sizes());
  if (config.witness && config.peers.length === 0) {
    log.warn('witness configured without peers: ownership is static (a one-region cluster needs no leases)');
  }
  return { metrics, security, settingsCheck, publicUrls };
}

interface StoreLossHandlers {
  /** Raises the region's own counters past everything issued before (`aboveAll`: the store may have forgotten floors the peers have seen). */
  raiseFloor(why: string, aboveAll?: boolean): void;
  /** The store lost its data or came back with older data. */
  storeLost(why: string): void;
  /** Writes opened at an unclean boot before the cursors of `peers` were compared with the log. */
  uncheckedOpen(peers: readonly string[]): void;
}

/**
 * The region's own counters restart with an empty store; when it may hold fewer versions
 * than its peers and takes writes anyway, they must start above everything issued before.
 * `aboveAll`: the store may have forgotten floors the peers have seen (lost or rolled back).
 */
function counterFloorRaiser(env: Env, store: RegionStore): StoreLossHandlers['raiseFloor'] {
  const { config, clock, log } = env;
  return (why: string, aboveAll = false) => {
    if (config.peers.length === 0) return; // nobody holds older versions of ours
    store.raiseCounterFloor(clock.nowMs(), aboveAll).catch((err: Error) =>
      log.error({ err: err.message }, 'counter floor not persisted yet (in effect now; persisted when Redis answers)'));
    log.warn({ why }, 'own version-vector counters raised past everything issued before');
  };
}

/** What the gateway does when its Redis lost or rolled back its data (also wired to the store's identity check here). */
function storeLossHandlers(env: Env, stores: Stores, metrics: GatewayMetrics, slot: RoleSlot): StoreLossHandlers {
  const { config, log } = env;
  const { store, replicationStore } = stores;
  const raiseFloor = counterFloorRaiser(env, store);
  // Redis that lost its data under the running gateway (restarted without persistence,
  // flushed): the region's own counters and log seqs restart at zero, while the peers hold
  // versions and cursors from before. Noticed by the write script (no write lands or is
  // acknowledged there: 503 store_reset) and by a check every STORE_IDENTITY_CHECK_MS.
  const storeResets = new Counter({ name: 'geogate_store_data_lost_total', help: 'Times the region\'s Redis was found to have lost its data under the running gateway', registers: [metrics.registry] });
  // Also a store that came back with older data (rollbackGuard): writes that have not
  // opened yet wait for the pull (the bootstrap gate), every peer is marked needs-repair
  // (durably: a restart before the repair finished repairs again).
  const storeLost = (why: string) => {
    storeResets.inc();
    raiseFloor('the store lost or rolled back its data', true);
    // a new log incarnation, written by the next read of it (the links' handshakes, the
    // senders' poll): the peers start it from seq 0
    replicationStore.renewIncarnation();
    // session tokens: nothing applied is known any more, and the own log's old incarnation is
    // gone; the new one is written now (not at the next link's handshake: with the links down
    // the region's answers would go on naming the lost one)
    store.frontier.lost();
    void replicationStore.incarnation().catch((err: Error) => log.warn({ err: err.message }, 'the log\'s new incarnation is written at the next read of it'));
    const replicator = slot.role?.replicator;
    const antiEntropy = slot.role?.antiEntropy;
    // (an instance that is not the coordinator: the next coordinator's links start from the
    // new incarnation; the durable needs-repair marks are written by the coordinator)
    replicator?.resetLog('the region\'s Redis lost or rolled back its data'); // no old cursor acks or trims the new log
    if (antiEntropy?.bootstrapStatus().state === 'none') antiEntropy.beginBootstrap();
    else antiEntropy?.rebuildFromPeers();
    for (const p of config.peers) replicator?.markNeedsRepair(p.region, why);
    log.error({ why, peers: config.peers.map((p) => p.region) }, 'the region\'s Redis lost its data (restarted empty, flushed) or came back with older data: own counters raised past everything issued before, replication restarted under a new log incarnation, every partition pulled again from the peers and repaired with them');
  };
  const seqsRolledBack = new Counter({ name: 'geogate_store_seqs_rolled_back_total', help: 'Log seqs this region handed out that its Redis no longer held when found rolled back (a failover to a replica that missed writes, an older snapshot): at least the acknowledged writes lost', registers: [metrics.registry] });
  store.onIdentityLost((loss) => {
    if (loss.seqsLost) seqsRolledBack.inc(loss.seqsLost);
    storeLost(loss.seqsLost ? `the store's log seq went back by ${loss.seqsLost}` : 'the store\'s identity is gone or its log seq went back');
  });
  // Writes open at an unclean boot before some peers' cursors were compared: the log may
  // have been rolled back under seqs and counters those peers hold. The new writes go to a
  // new log incarnation (no seq is reused, whatever restarts follow before the peers
  // return) with counters above all, and the unchecked peers are marked needs-repair
  // (durably): the two-way repair brings back what they have and the old data lost.
  const uncheckedOpen = (peers: readonly string[]) => {
    const why = `writes open before the cursors of ${peers.join(', ')} were compared with the log`;
    raiseFloor(why, true);
    replicationStore.renewIncarnation();
    slot.role?.replicator?.resetLog(why);
    for (const p of peers) slot.role?.replicator?.markNeedsRepair(p, why);
  };
  return { raiseFloor, storeLost, uncheckedOpen };
}

interface WriteGate {
  /**
   * The instance's write authority: the bootstrap gate over the role's ownership (or the
   * board); with several instances, the coordinator term's rollback check over that.
   */
  readonly gate: BootstrapGate | TermCheckedGate;
  /** The bootstrap gate (latched open once: the first check, the bootstrap of an empty store). */
  readonly bootstrapGate: BootstrapGate;
  readonly rollbackGuard: RollbackGuard;
  /** With several instances: whose rollback check this instance's writes wait for (coordination/region-check.ts). */
  readonly regionCheck: RegionCheck | undefined;
  /** Another instance than the coordinator: the coordinator's word through Redis (absent without coordination). */
  readonly board: BoardReader | undefined;
  readonly instanceList: RedisLeaseStore | undefined;
  /** Ownership by witness leases (a witness and peers). */
  readonly leased: boolean;
  /** With several instances: tells the coordinator of this instance's appends while it is not the coordinator. */
  readonly appendSignal: AppendPublisher | undefined;
}

/** Who may write: the rollback guard, the ownership of the role (or the board, or static) and the bootstrap gate over them. */
function writeGate(env: Env, stores: Stores, metrics: GatewayMetrics, slot: RoleSlot, boot: BootState, loss: StoreLossHandlers): WriteGate {
  const { config, clock, root, log } = env;
  const { store, maps } = stores;
  // A store that came back with older data while this gateway restarted (rollback-guard.ts):
  // after an unclean stop, writes wait until the peers' cursors were compared with the log.
  const rollbackGuard = new RollbackGuard({
    peers: config.peers.map((p) => p.region), clock, log,
    checkWaitMs: Math.min(ROLLBACK_CHECK_WAIT_MS, config.antiEntropy.bootstrapWriteWaitMs),
    onRollback: (why) => loss.storeLost(`the store came back with older data: ${why}`),
    onUncheckedOpen: (peers) => loss.uncheckedOpen(peers),
  });
  // writes follow the coordinator role's ownership (witness leases) while this instance has it
  const staticAuthority = new StaticAuthority(config.region, maps);
  // another instance than the coordinator: the coordinator's word through Redis (its board)
  const instanceList = config.coordination.enabled ? new RedisLeaseStore(stores.redis, store.keys) : undefined;
  // (not read while this instance holds the role: it is the board's author)
  const board = config.coordination.enabled ? new BoardReader(store, clock, childLogger(root, { component: 'board' }), BOARD_REFRESH_MS, () => slot.role !== undefined) : undefined;
  const leased = config.witness !== undefined && config.peers.length > 0;
  // with several instances the check is the coordinator's (it holds the links), once per
  // term; the others follow the current term's word (region-check.ts)
  const regionCheck = config.coordination.enabled ? new RegionCheck({
    guard: rollbackGuard, isCoordinator: () => slot.role !== undefined, boardSaysChecked: () => board?.regionChecked() ?? false,
    log: childLogger(root, { component: 'region-check' }),
  }) : undefined;
  const notCoordinator = notCoordinatorAuthority(staticAuthority, () => slot.election?.status().coordinator?.url);
  const roleAuthority = delegatingAuthority(() => slot.role?.ownership ?? (leased ? board ?? notCoordinator : staticAuthority));
  // A store that started empty takes no writes until anti-entropy rebuilt it from the peers
  // (bounded by antiEntropy.bootstrapWriteWaitMs: the gate follows the bootstrap's state);
  // `boot.unknown` while Redis has not answered yet (writes wait for that too).
  const bootstrapGate = new BootstrapGate(roleAuthority, {
    clock, waitMs: config.antiEntropy.bootstrapWriteWaitMs, log, registry: metrics.registry,
    state: () => {
      if (boot.unknown || (regionCheck ?? rollbackGuard).pending()) return 'pending';
      if (slot.role) return slot.role.antiEntropy?.bootstrapStatus().state ?? 'none';
      // No role (yet): the role's bootstrap is not known, so nothing may latch the gate open.
      // With several instances, one that is not the coordinator follows the coordinator's word
      // that its writes are open (rollback check and bootstrap of an empty store done).
      return regionCheck && board?.regionChecked() ? 'none' : 'pending';
    },
    complete: () => slot.role?.antiEntropy?.bootstrapStatus().complete ?? false,
    onOpenedIncomplete: () => loss.raiseFloor('writes open before every peer was pulled'),
  });
  // the gate latches open once; a later coordinator term's check closes the writes again
  const gate = regionCheck ? new TermCheckedGate(bootstrapGate, regionCheck) : bootstrapGate;
  const appendSignal = config.coordination.enabled
    ? new AppendPublisher(stores.redis, appendChannel(config.redis.keyPrefix), clock, () => stores.replicationStore.knownIncarnation(), childLogger(root, { component: 'append-signal' }))
    : undefined;
  return { gate, bootstrapGate, rollbackGuard, regionCheck, board, instanceList, leased, appendSignal };
}

/** A write of this instance is in the log: the role's senders ship it, or (no role) the coordinator is told (append-signal.ts). */
function localWrite(slot: RoleSlot, signal: AppendPublisher | undefined): (seq: number, packed: Buffer) => void {
  return (seq, packed) => {
    if (slot.role) slot.role.replicator?.notifyAppended(seq, packed);
    else signal?.appended(seq);
  };
}

/** What the HTTP layer reads of the region process (http/context.ts); the role's parts through `slot`. */
function frontContext(env: Env, stores: Stores, front: FrontServices, writes: WriteGate, slot: RoleSlot): GatewayContext {
  const { config, clock, root, log } = env;
  const { store, conflicts, keyspaces, maps } = stores;
  const { metrics, security, settingsCheck, publicUrls } = front;
  const { gate, board, instanceList, leased } = writes;
  const sync = new SyncReplicas(config.region, maps, () => slot.role?.replicator ?? (config.peers.length > 0 ? board : undefined), childLogger(root, { component: 'sync' }));
  return {
    config, keyspaces, maps, store, conflicts, authority: gate, publicUrls, metrics, log, monoMs: () => clock.monoMs(), nowMs: () => clock.nowMs(),
    get writeGuard() { return slot.role?.ownership?.writeGuard ?? (leased ? board?.writeGuard : undefined); },
    roleMetrics: async () => (slot.role && slot.role.registry !== metrics.registry ? slot.role.registry.metrics() : ''),
    onLocalWrite: localWrite(slot, writes.appendSignal),
    afterWrite: (ks, partition, seq) => sync.wait(ks, partition, seq),
    decisions: (limit) => slot.role?.ownership?.recentDecisions(limit) ?? [],
    adminTokens: () => security.credentials.adminTokens(),
    onAdminRefused: (reason) => security.adminRefused(reason),
    dial: { peerTls: security.linkTls?.dial, witness: { secret: () => security.credentials.signingSecret(), tls: security.witnessTls }, nowMs: () => clock.nowMs() },
    statusExtras: async () => ({
      peers: slot.role?.replicator?.status() ?? [],
      ownership: slot.role?.ownership?.status() ?? { mode: slot.role || !config.witness ? 'static (no witness)' : 'not the coordinator' },
      ...(slot.election ? { coordination: { ...slot.election.status(), instances: await instanceList?.instances().catch(() => []) ?? [] } } : {}),
      settings: settingsCheck.status(),
      bootstrap: { ...gate.status(), from: slot.role?.antiEntropy?.bootstrapStatus().from ?? [] },
      conflicts: { pending: await conflicts.pendingCount().catch(() => null), demotedSyncReplicas: sync.demotedReplicas() },
    }),
  };
}

interface BootChecks {
  readonly merkleStore: MerkleStore;
  /** The store held no record at boot: every partition is pulled from the peers (the role's first term). */
  readonly startedEmpty: boolean;
  readonly repairMarks: RedisRepairMarks;
  readonly identityTimer: NodeJS.Timeout;
}

/** Whether the store started empty (`boot.unknown` when Redis did not answer), then the checks of watchStore. */
async function bootChecks(env: Env, stores: Stores, rollbackGuard: RollbackGuard, slot: RoleSlot, boot: BootState): Promise<BootChecks> {
  const { config, log } = env;
  const { redis, store } = stores;
  if (!(await waitReady(redis, REDIS_READY_WAIT_MS))) log.warn({ store: describeStore(config.redis) }, 'redis not reachable yet; answering 503 until it is');
  // must run before the replicator's handshake creates the log incarnation
  const merkleStore = new MerkleStore(store);
  const startedEmpty = await merkleStore.startedEmpty().catch(() => { boot.unknown = true; return false; });
  if (startedEmpty && config.peers.length > 0 && config.antiEntropy.enabled) {
    log.warn({ bootstrapWriteWaitMs: config.antiEntropy.bootstrapWriteWaitMs }, 'region store started empty: bootstrapping every partition from peers; writes wait until that is done');
  }
  // (with antiEntropy.enabled false nothing bootstraps an empty store, and nothing gates it:
  // docs/config.md says what that costs)
  const { repairMarks, identityTimer } = await watchStore(env, stores, merkleStore, rollbackGuard, slot, boot);
  return { merkleStore, startedEmpty, repairMarks, identityTimer };
}

/**
 * At boot and on every (re)connect of Redis: the log as the store holds it (rollback guard,
 * once), the durable needs-repair marks, the counter floor and the store's identity, and
 * whether a store Redis did not answer for at boot is empty; every STORE_IDENTITY_CHECK_MS
 * the identity again.
 */
async function watchStore(env: Env, stores: Stores, merkleStore: MerkleStore, rollbackGuard: RollbackGuard, slot: RoleSlot, boot: BootState): Promise<{ repairMarks: RedisRepairMarks; identityTimer: NodeJS.Timeout }> {
  const { config, log } = env;
  const { redis, store, replicationStore } = stores;
  // Redis did not answer at boot: once it does, find out whether it is empty (then bootstrap
  // as at boot); writes wait until then.
  const recheckBoot = () => {
    if (!boot.unknown) return;
    merkleStore.startedEmpty().then((empty) => {
      if (!boot.unknown) return;
      if (empty && slot.role?.antiEntropy) {
        slot.role.antiEntropy.beginBootstrap();
        log.warn('region store found empty once Redis answered: bootstrapping every partition from peers; writes wait until that is done');
      }
      boot.unknown = false;
    }, () => {});
  };
  // At boot and on every (re)connect: the persisted counter floor, the store's identity
  // (claimed the first time; a loss or rollback noticed afterwards), the boot-time check.
  // First: the log as the store holds it before any write (rollbackGuard), and the durable
  // needs-repair marks a gateway before this one left.
  let bootLogRead = false;
  const repairMarks = new RedisRepairMarks(redis, store.keys);
  const onRedisReady = async (): Promise<void> => {
    try {
      if (!bootLogRead) {
        // (several instances: only a coordinator's takeover consumes a clean-stop mark, for the
        // log as it reads it then; its term's check decides: region-check.ts)
        const state = await store.bootLogState(!config.coordination.enabled);
        // the head at boot may be held by the peers: a store found below it later (a rollback
        // under the running gateway, after a clean restart) must not hand those seqs out again
        store.noteSeqSeen(state.headSeq);
        // an incarnation the replicator created meanwhile (Redis answered late) is a new log
        const ownLog = state.incarnation !== null && state.incarnation === replicationStore.incarnationCreatedHere();
        rollbackGuard.booted(ownLog ? { ...state, cleanStop: true } : state);
      }
      bootLogRead = true;
      // (again on every reconnect: marks set while Redis was away are written then)
      if (slot.role?.replicator) await slot.role.replicator.useRepairMarks(repairMarks);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'store not ready yet: boot log state and needs-repair marks read again when Redis answers');
    }
    const [floor, identity] = await Promise.allSettled([store.loadCounterFloor(), store.checkIdentity()]);
    for (const r of [floor, identity]) if (r.status === 'rejected') log.warn({ err: (r.reason as Error).message }, 'store not ready yet: counter floor or identity checked again when Redis answers');
    recheckBoot();
  };
  redis.on('ready', () => void onRedisReady());
  await onRedisReady();
  const identityTimer = setInterval(() => { store.checkIdentity().catch(() => {}); }, STORE_IDENTITY_CHECK_MS);
  identityTimer.unref();
  return { repairMarks, identityTimer };
}

/** The HTTP front (http/app.ts) listening, with TLS when configured. */
async function startFront(env: Env, security: SiteSecurity, context: GatewayContext): Promise<{ server: Server; port: number; url: string }> {
  const { config } = env;
  const app = createApp(context);
  const { server, port } = await security.listen(app.fetch, config.listen.host, config.listen.port);
  return { server, port, url: `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}` };
}

/**
 * The region's coordinator role (links, witness agent, anti-entropy, conflict and action
 * workers, retention): with one instance per region started once at boot; with
 * `coordination.enabled` started while this instance holds the coordinator lease and
 * stopped the moment it does not (coordinator.ts). The first term bootstraps a store that
 * started empty.
 */
async function startCoordination(roleDeps: CoordinatorDeps, o: { slot: RoleSlot; startedEmpty: boolean; url: string; log: Logger; metrics: GatewayMetrics; board: BoardReader | undefined; regionCheck: RegionCheck | undefined; electionRedis: Redis | undefined }): Promise<void> {
  const { config, redis, store, clock } = roleDeps;
  const { slot } = o;
  let bootstrapPending = o.startedEmpty;
  const startRole = async (registry: Registry, token?: number): Promise<CoordinatorRole> => {
    // each term's rollback check: nothing to compare if the store was watched, else the log as it is now
    await o.regionCheck?.beginTerm(() => store.bootLogState());
    const r = await startRegionCoordinator(roleDeps, { registry, bootstrap: bootstrapPending, ...(token === undefined ? {} : { token }) });
    bootstrapPending = false;
    return r;
  };
  if (!config.coordination.enabled) {
    slot.role = await startRole(o.metrics.registry);
    return;
  }
  o.board?.start();
  slot.election = runElection(config, {
    redis: o.electionRedis ?? redis, store, clock, log: o.log, url: o.url, metrics: o.metrics, server: roleDeps.server, startRole,
    role: () => slot.role, setRole: (r: CoordinatorRole | undefined) => { slot.role = r; },
  });
}

/**
 * Expired keys are swept where the partition's conflicts are resolved (mayResolve: the
 * coordinator's ownership; another instance of the region never resolves).
 */
function startExpiry(env: Env, stores: Stores, metrics: GatewayMetrics, writes: WriteGate, context: GatewayContext, slot: RoleSlot): ExpirySweeper {
  const { config, clock, root } = env;
  const { gate, leased } = writes;
  const expirySweeper = new ExpirySweeper({
    store: stores.store, keyspaces: stores.keyspaces, maps: stores.maps, authority: gate, clock, log: childLogger(root, { component: 'expiry' }), registry: metrics.registry,
    writeGuard: leased ? {
      begin: (ks, p) => context.writeGuard?.begin(ks, p) ?? (() => {}),
      stillHolds: (ks, p, epoch) => context.writeGuard?.stillHolds(ks, p, epoch) ?? false,
    } : undefined,
    onLocalWrite: localWrite(slot, writes.appendSignal), writable: () => gate.isOpen(),
    intervalMs: config.expiry.sweepIntervalMs, recordsMax: config.expiry.sweepRecordsMax, partitionsMax: config.expiry.sweepPartitionsMax,
  });
  expirySweeper.start();
  return expirySweeper;
}

/** Stops everything in order: sweeps and the election, the role, the front; then records the clean stop and disconnects. */
async function closeGateway(env: Env, stores: Stores, front: FrontServices, writes: WriteGate, slot: RoleSlot,
  running: { identityTimer: NodeJS.Timeout; expirySweeper: ExpirySweeper; server: Server }): Promise<void> {
  const { server } = running;
  clearInterval(running.identityTimer);
  running.expirySweeper.stop();
  const wasCoordinator = slot.election?.isCoordinator() ?? false;
  await slot.election?.stop();
  writes.board?.stop();
  writes.appendSignal?.stop();
  const r = slot.role;
  slot.role = undefined;
  front.settingsCheck.close();
  front.security.close();
  await r?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections?.();
  // nothing writes any more: the next boot knows this Redis holds all this process wrote
  // (several instances: only the last one to stop, and a coordinator withdraws its board)
  if (await cleanStopOfRegion(env, stores, writes, slot, wasCoordinator)) {
    await stores.store.markCleanStop().catch((err: Error) => env.log.warn({ err: err.message }, 'clean stop not recorded: the next start compares its log with the peers first'));
  }
  stores.redis.disconnect();
  stores.replicationRedis?.disconnect();
  stores.electionRedis?.disconnect();
  for (const c of stores.replicaWaitRedis) c.disconnect();
}

/**
 * Several instances per region, at a clean stop (this instance writes no more): a coordinator
 * withdraws its board (nobody trusts the word of its ended term, for the rest of the board's
 * validity either), and this instance leaves the region's instance list. True when the
 * clean-stop mark may be written: always with one instance; with several, only when no other
 * instance was heard within the list's forget time (INSTANCE_FORGET_LEASES leases). The mark
 * says the Redis holds everything the region wrote: an instance still running would write on
 * past it, and a rollback to the mark's log would hide the seqs it shipped since.
 */
async function cleanStopOfRegion(env: Env, stores: Stores, writes: WriteGate, slot: RoleSlot, wasCoordinator: boolean): Promise<boolean> {
  const { config, log } = env;
  const id = slot.election?.status().id;
  if (!config.coordination.enabled || !writes.instanceList || id === undefined) return true;
  try {
    if (wasCoordinator && await stores.store.withdrawBoard(id)) log.info('coordinator board withdrawn at the clean stop');
    await writes.instanceList.release(id);
    const forgetMs = INSTANCE_FORGET_LEASES * config.coordination.leaseMs;
    const others = (await writes.instanceList.instances()).filter((i) => i.id !== id && i.seenMsAgo < forgetMs);
    if (others.length === 0) return true;
    log.info({ others: others.map((i) => i.id) }, 'clean stop: other instances of the region run on (or stopped uncleanly within the forget time): no clean-stop mark');
    return false;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'clean stop not recorded (the region\'s instance list not read): the next start compares its log with the peers first');
    return false;
  }
}
