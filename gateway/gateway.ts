/**
 * The region process: HTTP API, partition maps, the region's store, and the composition
 * points for replication and ownership. `startGateway` returns once it listens; Redis may
 * still be down then (requests answer 503 until it is back).
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
import { StaticAuthority, type WriteAuthority } from './authority.js';
import { createGatewayMetrics, streamSizeGauges } from './metrics.js';
import { createApp } from './http/app.js';
import { createSiteSecurity } from './site-security.js';
import type { GatewayContext } from './http/context.js';
import { NOT_COORDINATOR_TOKEN, RedisLeaseStore, type CoordinatorElection } from './coordination/index.js';
import { delegatingAuthority, notCoordinatorAuthority } from './coordination/authority.js';
import { BoardReader } from './coordination/board.js';
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
  const log = childLogger(root, { component: 'gateway' });
  const redis = createRedis(config, childLogger(root, { component: 'store' }));
  const maps = new Map(config.keyspaces.map((ks) => [ks.name, new PartitionMap(ks, config.cluster.regions, config.merkle.buckets)]));
  // with several instances per region: the election (started once listening), whose token the
  // store's scripts that change shared state for the coordinator run under
  let election: CoordinatorElection | undefined;
  const coordinatorToken = config.coordination.enabled ? () => election?.token() ?? NOT_COORDINATOR_TOKEN : undefined;
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
  const metrics = createGatewayMetrics(config.region);
  const security = createSiteSecurity(config, opts.configDir ?? process.cwd(), childLogger(root, { component: 'security' }), metrics.registry);
  const settingsCheck = new SettingsCheck(gatewaySettings(config, maps), config.region, childLogger(root, { component: 'settings' }), metrics.registry);
  if (config.witness) settingsCheck.attachWitness(config.witness.url);
  metrics.storeUp.set(0);
  redis.on('ready', () => metrics.storeUp.set(1));
  redis.on('close', () => metrics.storeUp.set(0));
  const publicUrls = new Map<string, string>([[config.region, config.publicUrl], ...config.peers.map((p) => [p.region, p.publicUrl ?? p.url] as const)]);

  const conflicts = new ConflictStore(redis, store.keys, {
    region: config.region, logMaxEntries: config.log.maxEntries, logMaxBytes: config.log.maxBytes,
    journalMaxEntries: config.conflicts.journalMaxEntries, journalMaxBytes: config.conflicts.journalMaxBytes,
    outboxMaxEntries: config.conflicts.outboxMaxEntries, deadLetterMaxEntries: config.conflicts.deadLetterMaxEntries,
    nowMs: () => clock.nowMs(), coordinatorToken,
  });
  streamSizeGauges(metrics, () => conflicts.sizes());
  if (config.witness && config.peers.length === 0) {
    log.warn('witness configured without peers: ownership is static (a one-region cluster needs no leases)');
  }
  // The region's coordinator role (links, witness agent, anti-entropy, conflict and action
  // workers, retention): with one instance per region started once at boot; with
  // `coordination.enabled` started while this instance holds the coordinator lease and
  // stopped the moment it does not (coordinator.ts).
  let role: CoordinatorRole | undefined;
  const replicatorNow = (): Replicator | undefined => role?.replicator;
  // A store that started empty takes no writes until anti-entropy rebuilt it from the peers
  // (bounded by antiEntropy.bootstrapWriteWaitMs: the gate follows the bootstrap's state);
  // `bootUnknown` while Redis has not answered yet (writes wait for that too).
  let bootUnknown = false;
  // The region's own counters restart with an empty store; when it may hold fewer versions
  // than its peers and takes writes anyway, they must start above everything issued before.
  // `aboveAll`: the store may have forgotten floors the peers have seen (lost or rolled back).
  const raiseFloor = (why: string, aboveAll = false) => {
    if (config.peers.length === 0) return; // nobody holds older versions of ours
    store.raiseCounterFloor(clock.nowMs(), aboveAll).catch((err: Error) =>
      log.error({ err: err.message }, 'counter floor not persisted yet (in effect now; persisted when Redis answers)'));
    log.warn({ why }, 'own version-vector counters raised past everything issued before');
  };
  // A store that came back with older data while this gateway restarted (rollback-guard.ts):
  // after an unclean stop, writes wait until the peers' cursors were compared with the log.
  const rollbackGuard = new RollbackGuard({
    peers: config.peers.map((p) => p.region), clock, log,
    checkWaitMs: Math.min(ROLLBACK_CHECK_WAIT_MS, config.antiEntropy.bootstrapWriteWaitMs),
    onRollback: (why) => storeLost(`the store came back with older data: ${why}`),
    onUncheckedOpen: (peers) => uncheckedOpen(peers),
  });
  // writes follow the coordinator role's ownership (witness leases) while this instance has it
  const staticAuthority = new StaticAuthority(config.region, maps);
  // another instance than the coordinator: the coordinator's word through Redis (its board)
  const instanceList = config.coordination.enabled ? new RedisLeaseStore(redis, store.keys) : undefined;
  const board = config.coordination.enabled ? new BoardReader(store, clock, childLogger(root, { component: 'board' })) : undefined;
  const leased = config.witness !== undefined && config.peers.length > 0;
  const notCoordinator = notCoordinatorAuthority(staticAuthority, () => election?.status().coordinator?.url);
  const roleAuthority = delegatingAuthority(() => role?.ownership ?? (leased ? board ?? notCoordinator : staticAuthority));
  const gate = new BootstrapGate(roleAuthority, {
    clock, waitMs: config.antiEntropy.bootstrapWriteWaitMs, log, registry: metrics.registry,
    state: () => (bootUnknown || rollbackGuard.pending() ? 'pending' : role?.antiEntropy?.bootstrapStatus().state ?? 'none'),
    complete: () => role?.antiEntropy?.bootstrapStatus().complete ?? false,
    onOpenedIncomplete: () => raiseFloor('writes open before every peer was pulled'),
  });
  const authority: WriteAuthority = gate;
  const triggers = await loadTriggers(config.triggers, opts.configDir ?? process.cwd());
  const sync = new SyncReplicas(config.region, maps, () => replicatorNow() ?? (config.peers.length > 0 ? board : undefined), childLogger(root, { component: 'sync' }));

  const context: GatewayContext = {
    config, keyspaces, maps, store, conflicts, authority, publicUrls, metrics, log, monoMs: () => clock.monoMs(), nowMs: () => clock.nowMs(),
    get writeGuard() { return role?.ownership?.writeGuard ?? (leased ? board?.writeGuard : undefined); },
    roleMetrics: async () => (role && role.registry !== metrics.registry ? role.registry.metrics() : ''),
    onLocalWrite: (seq, packed) => role?.replicator?.notifyAppended(seq, packed),
    afterWrite: (ks, partition, seq) => sync.wait(ks, partition, seq),
    decisions: (limit) => role?.ownership?.recentDecisions(limit) ?? [],
    adminTokens: () => security.credentials.adminTokens(),
    onAdminRefused: (reason) => security.adminRefused(reason),
    dial: { peerTls: security.linkTls?.dial, witness: { secret: () => security.credentials.signingSecret(), tls: security.witnessTls }, nowMs: () => clock.nowMs() },
    statusExtras: async () => ({
      peers: role?.replicator?.status() ?? [],
      ownership: role?.ownership?.status() ?? { mode: role || !config.witness ? 'static (no witness)' : 'not the coordinator' },
      ...(election ? { coordination: { ...election.status(), instances: await instanceList?.instances().catch(() => []) ?? [] } } : {}),
      settings: settingsCheck.status(),
      bootstrap: { ...gate.status(), from: role?.antiEntropy?.bootstrapStatus().from ?? [] },
      conflicts: { pending: await conflicts.pendingCount().catch(() => null), demotedSyncReplicas: sync.demotedReplicas() },
    }),
  };
  if (!(await waitReady(redis, REDIS_READY_WAIT_MS))) log.warn({ store: describeStore(config.redis) }, 'redis not reachable yet; answering 503 until it is');
  // must run before the replicator's handshake creates the log incarnation
  const merkleStore = new MerkleStore(store);
  const startedEmpty = await merkleStore.startedEmpty().catch(() => { bootUnknown = true; return false; });
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
    const replicator = role?.replicator;
    const antiEntropy = role?.antiEntropy;
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
    role?.replicator?.resetLog(why);
    for (const p of peers) role?.replicator?.markNeedsRepair(p, why);
  };
  if (startedEmpty && config.peers.length > 0 && config.antiEntropy.enabled) {
    log.warn({ bootstrapWriteWaitMs: config.antiEntropy.bootstrapWriteWaitMs }, 'region store started empty: bootstrapping every partition from peers; writes wait until that is done');
  }
  // (with antiEntropy.enabled false nothing bootstraps an empty store, and nothing gates it:
  // docs/config.md says what that costs)
  // Redis did not answer at boot: once it does, find out whether it is empty (then bootstrap
  // as at boot); writes wait until then.
  const recheckBoot = () => {
    if (!bootUnknown) return;
    merkleStore.startedEmpty().then((empty) => {
      if (!bootUnknown) return;
      if (empty && role?.antiEntropy) {
        role.antiEntropy.beginBootstrap();
        log.warn('region store found empty once Redis answered: bootstrapping every partition from peers; writes wait until that is done');
      }
      bootUnknown = false;
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
        const state = await store.bootLogState();
        // the head at boot may be held by the peers: a store found below it later (a rollback
        // under the running gateway, after a clean restart) must not hand those seqs out again
        store.noteSeqSeen(state.headSeq);
        // an incarnation the replicator created meanwhile (Redis answered late) is a new log
        const ownLog = state.incarnation !== null && state.incarnation === replicationStore.incarnationCreatedHere();
        rollbackGuard.booted(ownLog ? { ...state, cleanStop: true } : state);
      }
      bootLogRead = true;
      // (again on every reconnect: marks set while Redis was away are written then)
      if (role?.replicator) await role.replicator.useRepairMarks(repairMarks);
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
  const app = createApp(context);
  const { server, port } = await security.listen(app.fetch, config.listen.host, config.listen.port);
  const url = `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}`;
  const roleDeps: CoordinatorDeps = {
    config, clock, random: opts.random ?? realRandom, root, store, replicationStore, redis, maps, keyspaces, conflicts, merkleStore,
    onLogRenewedElsewhere: (why: string) => storeLost(why),
    settingsCheck, security, authority, triggers, rollbackGuard, repairMarks, context, server,
  };
  let bootstrapPending = startedEmpty;
  const startRole = async (registry: Registry, token?: number): Promise<CoordinatorRole> => {
    const r = await startRegionCoordinator(roleDeps, { registry, bootstrap: bootstrapPending, ...(token === undefined ? {} : { token }) });
    bootstrapPending = false;
    return r;
  };
  if (!config.coordination.enabled) {
    role = await startRole(metrics.registry);
  } else {
    board?.start();
    election = runElection(config, { redis, store, clock, log, url, metrics, server, startRole, role: () => role, setRole: (r: CoordinatorRole | undefined) => { role = r; } });
  }
  // expired keys are swept where the partition's conflicts are resolved (mayResolve: the
  // coordinator's ownership; another instance of the region never resolves)
  const expirySweeper = new ExpirySweeper({
    store, keyspaces, maps, authority, clock, log: childLogger(root, { component: 'expiry' }), registry: metrics.registry,
    writeGuard: leased ? {
      begin: (ks, p) => context.writeGuard?.begin(ks, p) ?? (() => {}),
      stillHolds: (ks, p, epoch) => context.writeGuard?.stillHolds(ks, p, epoch) ?? false,
    } : undefined,
    onLocalWrite: (seq, packed) => role?.replicator?.notifyAppended(seq, packed), writable: () => gate.isOpen(),
    intervalMs: config.expiry.sweepIntervalMs, recordsMax: config.expiry.sweepRecordsMax, partitionsMax: config.expiry.sweepPartitionsMax,
  });
  expirySweeper.start();
  log.info({ port, publicUrl: config.publicUrl, keyspaces: config.keyspaces.map((k) => k.name) }, 'gateway listening');

  return {
    url, port, config, store, server, context, conflicts, expirySweeper,
    get conflictWorker() { if (!role) throw new Error('this instance is not the region\'s coordinator: no conflict worker'); return role.conflictWorker; },
    get replicator() { return role?.replicator; },
    get antiEntropy() { return role?.antiEntropy; },
    writesOpen: () => gate.isOpen(),
    reloadCredentials: () => security.reload(),
    async close() {
      clearInterval(identityTimer);
      expirySweeper.stop();
      await election?.stop();
      board?.stop();
      const r = role;
      role = undefined;
      settingsCheck.close();
      security.close();
      await r?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      // nothing writes any more: the next boot knows this Redis holds all this process wrote
      await store.markCleanStop().catch((err: Error) => log.warn({ err: err.message }, 'clean stop not recorded: the next start compares its log with the peers first'));
      redis.disconnect();
      replicationRedis?.disconnect();
      for (const r of replicaWaitRedis) r.disconnect();
    },
  };
}
