/**
 * The region process: HTTP API, partition maps, the region's store, and the composition
 * points for replication and ownership. `startGateway` returns once it listens; Redis may
 * still be down then (requests answer 503 until it is back).
 */
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import { createStoreConnection, describeStore } from './store/connection.js';
import { Counter } from 'prom-client';
import type { Logger } from 'pino';
import { realClock, realRandom, type Clock } from '../infra/clock.js';
import { childLogger, createLogger } from '../infra/log.js';
import type { GatewayConfig, KeyspaceConfig } from './config.js';
import { PartitionMap } from './partition-map.js';
import { AppliedFrontier, ConflictStore, RegionStore, StoreLayoutError } from './store/index.js';
import { ConflictWorker } from './merge/conflict-worker.js';
import { ActionWorker } from './merge/action-worker.js';
import { RetentionSweeper } from './merge/retention.js';
import { ExpirySweeper } from './expiry-sweep.js';
import { createReplicator, SyncReplicas } from './replication.js';
import { SettingsCheck } from './settings-check.js';
import { gatewaySettings } from './shared-settings.js';
import type { Replicator } from '../replicator/index.js';
import { loadTriggers } from '../conflict/index.js';
import { WitnessAuthority } from './ownership/witness-authority.js';
import { BootstrapGate } from './bootstrap-gate.js';
import { ROLLBACK_CHECK_WAIT_MS, RollbackGuard } from './rollback-guard.js';
import { RedisRepairMarks } from './store/repair-marks.js';
import { AntiEntropy } from '../replicator/anti-entropy/index.js';
import { MerkleStore } from './store/merkle-store.js';
import { StaticAuthority, type WriteAuthority } from './authority.js';
import { createGatewayMetrics, streamSizeGauges } from './metrics.js';
import { createApp } from './http/app.js';
import { createSiteSecurity } from './site-security.js';
import type { GatewayContext } from './http/context.js';

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
  const storeOptions = {
    region: config.region, prefix: config.redis.keyPrefix, partitionOf: partitionOfMaps(maps),
    logMaxEntries: config.log.maxEntries, logMaxBytes: config.log.maxBytes, nowMs: () => clock.nowMs(), monoMs: () => clock.monoMs(),
    // peers' outcomes remembered under the same bounds; one frontier for both stores (session tokens)
    idempotency: config.idempotency, frontier: new AppliedFrontier(),
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
    nowMs: () => clock.nowMs(),
  });
  streamSizeGauges(metrics, () => conflicts.sizes());
  let replicator: Replicator | undefined;
  let conflictWorker: ConflictWorker | undefined;
  if (config.peers.length > 0) {
    replicator = createReplicator({
      config, store: replicationStore, clock, random: opts.random ?? realRandom, log: root, registry: metrics.registry, maps,
      onConflicts: () => conflictWorker?.kick(), settings: settingsCheck.link(),
      security: { secrets: () => security.credentials.secrets(), tls: security.linkTls },
    });
  }
  // Created below, once Redis answered; the failback gate reaches it through this binding
  // (the agent's ticks, and so the gate, only start after it exists).
  let antiEntropy: AntiEntropy | undefined;
  let ownership: WitnessAuthority | undefined;
  if (config.witness && replicator) {
    const r = replicator;
    ownership = await WitnessAuthority.create({
      config, maps, replicator: r, redis, ownersKey: `${config.redis.keyPrefix}owners`, clock,
      log: childLogger(root, { component: 'ownership' }), registry: metrics.registry,
      setFence: (ks, p, epoch, endMs) => store.setFence(ks, p, epoch, endMs),
      dropFence: (ks, p) => store.dropFence(ks, p),
      witnessTransport: { secret: () => security.credentials.signingSecret(), tls: security.witnessTls },
      compareRoots: config.antiEntropy.enabled
        ? (region, ks, p) => antiEntropy?.partitionInSync(region, ks, p) ?? Promise.resolve(false)
        : null,
      onHeal: (ks, p, owner) => {
        context.antiEntropy?.repairPartition(owner, ks, p).catch((err: Error) =>
          log.warn({ keyspace: ks, partition: p, owner, err: err.message }, 'merge of a diverged partition failed; background anti-entropy retries'));
      },
    });
  } else if (config.witness) {
    log.warn('witness configured without peers: ownership is static (a one-region cluster needs no leases)');
  }
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
  const gate = new BootstrapGate(ownership ?? new StaticAuthority(config.region, maps), {
    clock, waitMs: config.antiEntropy.bootstrapWriteWaitMs, log, registry: metrics.registry,
    state: () => (bootUnknown || rollbackGuard.pending() ? 'pending' : antiEntropy?.bootstrapStatus().state ?? 'none'),
    complete: () => antiEntropy?.bootstrapStatus().complete ?? false,
    onOpenedIncomplete: () => raiseFloor('writes open before every peer was pulled'),
  });
  const authority: WriteAuthority = gate;
  const triggers = await loadTriggers(config.triggers, opts.configDir ?? process.cwd());
  conflictWorker = new ConflictWorker({
    region: config.region, store, conflicts, keyspaces, authority, triggers, clock, registry: metrics.registry, valueBytesMax: config.limits.valueBytesMax,
    log: childLogger(root, { component: 'conflicts' }), onLocalWrite: (seq) => replicator?.notifyAppended(seq),
  });
  const actionWorker = new ActionWorker(conflicts, { clock, log: childLogger(root, { component: 'actions' }), registry: metrics.registry, outboxMaxAgeMs: config.conflicts.outboxMaxAgeMs });
  const retention = new RetentionSweeper(conflicts, config.conflicts, { clock, log: childLogger(root, { component: 'retention' }), registry: metrics.registry }, config.conflicts.sweepIntervalMs);
  const sync = new SyncReplicas(config.region, maps, replicator, childLogger(root, { component: 'sync' }));

  const context: GatewayContext = {
    config, keyspaces, maps, store, conflicts, authority, writeGuard: ownership?.writeGuard, publicUrls, metrics, log, monoMs: () => clock.monoMs(), nowMs: () => clock.nowMs(),
    onLocalWrite: (seq, packed) => replicator?.notifyAppended(seq, packed),
    afterWrite: (ks, partition, seq) => sync.wait(ks, partition, seq),
    decisions: (limit) => ownership?.recentDecisions(limit) ?? [],
    adminTokens: () => security.credentials.adminTokens(),
    onAdminRefused: (reason) => security.adminRefused(reason),
    dial: { peerTls: security.linkTls?.dial, witness: { secret: () => security.credentials.signingSecret(), tls: security.witnessTls }, nowMs: () => clock.nowMs() },
    statusExtras: async () => ({
      peers: replicator?.status() ?? [],
      ownership: ownership?.status() ?? { mode: 'static (no witness)' },
      settings: settingsCheck.status(),
      bootstrap: { ...gate.status(), from: antiEntropy?.bootstrapStatus().from ?? [] },
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
    replicator?.resetLog(why);
    for (const p of peers) replicator?.markNeedsRepair(p, why);
  };
  replicator?.onCursor((e) => rollbackGuard.onCursor(e));
  if (replicator && config.antiEntropy.enabled) {
    const { enabled: _enabled, bootstrapWriteWaitMs: _wait, ...aeOptions } = config.antiEntropy;
    antiEntropy = new AntiEntropy({
      region: config.region, store: merkleStore, links: replicator, maps, clock, log: root,
      onConflicts: () => conflictWorker?.kick(),
      options: { ...aeOptions, frameBytesMax: config.replication.frameBytesMax, messageBytesMax: Math.min(1 << 20, Math.floor(config.replication.frameBytesMax / 4)) },
    });
    if (startedEmpty) {
      log.warn({ bootstrapWriteWaitMs: config.antiEntropy.bootstrapWriteWaitMs }, 'region store started empty: bootstrapping every partition from peers; writes wait until that is done');
    }
  }
  // (with antiEntropy.enabled false nothing bootstraps an empty store, and nothing gates it:
  // docs/config.md says what that costs)
  // Redis did not answer at boot: once it does, find out whether it is empty (then bootstrap
  // as at boot); writes wait until then.
  const recheckBoot = () => {
    if (!bootUnknown) return;
    merkleStore.startedEmpty().then((empty) => {
      if (!bootUnknown) return;
      if (empty && antiEntropy) {
        antiEntropy.beginBootstrap();
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
      if (replicator) await replicator.useRepairMarks(repairMarks);
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
  context.antiEntropy = antiEntropy;
  const app = createApp(context);
  const { server, port } = await security.listen(app.fetch, config.listen.host, config.listen.port);
  replicator?.attach(server);
  replicator?.start();
  antiEntropy?.start({ bootstrap: startedEmpty });
  ownership?.start();
  conflictWorker.start();
  actionWorker.start();
  retention.start();
  const expirySweeper = new ExpirySweeper({
    store, keyspaces, maps, authority, writeGuard: ownership?.writeGuard, clock, log: childLogger(root, { component: 'expiry' }), registry: metrics.registry,
    onLocalWrite: (seq, packed) => replicator?.notifyAppended(seq, packed), writable: () => gate.isOpen(),
    intervalMs: config.expiry.sweepIntervalMs, recordsMax: config.expiry.sweepRecordsMax,
  });
  expirySweeper.start();
  log.info({ port, publicUrl: config.publicUrl, keyspaces: config.keyspaces.map((k) => k.name) }, 'gateway listening');

  return {
    url: `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}`, port, config, store, server, context, conflicts, conflictWorker, replicator, antiEntropy, expirySweeper,
    writesOpen: () => gate.isOpen(),
    reloadCredentials: () => security.reload(),
    async close() {
      clearInterval(identityTimer);
      antiEntropy?.stop();
      conflictWorker?.stop();
      actionWorker.stop();
      retention.stop();
      expirySweeper.stop();
      ownership?.stop();
      settingsCheck.close();
      security.close();
      await replicator?.stop();
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
