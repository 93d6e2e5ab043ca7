/**
 * The gateway's one config file: a zod schema with DEFAULT_* values, parsed once at boot
 * into a frozen object. Every error names the file and the field. Documented in
 * docs/config.md (keep the two in step).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { CredentialsError, readSecrets, secretSourceFields, sourceProblem, tlsFilesSchema, tokenSourceFields } from '../security/index.js';
import { changesFrameBytesMax } from '../replicator/codec.js';
import { PEER_URLS_MAX } from '../replicator/options.js';
import { PACKED_METADATA_BYTES_MAX } from '../replicator/packed.js';
import { APPLY_BATCH_RECORDS_MAX } from './store/region-store.js';
import { DEFAULT_COORDINATOR_DRIFT_MARGIN_MS, DEFAULT_COORDINATOR_LEASE_MS } from './coordination/election.js';

/** The coordinator renews its lease this often (a quarter of the default lease). */
export const DEFAULT_COORDINATOR_RENEW_MS = 250;

export const DEFAULT_KEY_BYTES_MAX = 512;
export const DEFAULT_VALUE_BYTES_MAX = 1024 * 1024;
export const DEFAULT_PARTITIONS = 16;
export const DEFAULT_RING_SLOTS = 4096;
export const DEFAULT_MERKLE_BUCKETS = 1024;
export const DEFAULT_LOG_MAX_ENTRIES = 1_000_000;
/** How long a region whose store started empty refuses writes while it bootstraps from its peers. */
export const DEFAULT_BOOTSTRAP_WRITE_WAIT_MS = 30_000;
export const DEFAULT_LOG_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2000;
export const DEFAULT_HEARTBEAT_MS = 100;
export const DEFAULT_MISSED_MAX = 5;
export const DEFAULT_SYNC_TIMEOUT_MS = 1000;
export const DEFAULT_LEASE_MS = 1500;
export const DEFAULT_DRIFT_MARGIN_MS = 150;
export const DEFAULT_REQUESTS_IN_FLIGHT_MAX = 4096;
export const DEFAULT_AE_BACKGROUND_INTERVAL_MS = 30_000;
export const DEFAULT_TOMBSTONE_INTERVAL_MS = 60_000;
/** `durability: replica`: how long a write waits (Redis WAIT) for an in-region replica to hold it. */
export const DEFAULT_REPLICA_WAIT_MS = 500;
/** How long a write's outcome is remembered for a retry with its Idempotency-Key. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** At most this many remembered outcomes per region (then writes with a new key answer 503). */
export const DEFAULT_IDEMPOTENCY_ENTRIES_MAX = 1_000_000;
const DAY_MS = 24 * 3_600_000;
/** Expiry (docs/config.md, "Expiry"): the longest time to live a write may set, in seconds (365 days). */
export const DEFAULT_EXPIRY_TTL_SECONDS_MAX = 365 * 24 * 3600;
/** How often the expiry sweep runs, and at most how many expired records it tombstones per round. */
export const DEFAULT_EXPIRY_SWEEP_INTERVAL_MS = 1000;
export const DEFAULT_EXPIRY_SWEEP_RECORDS_MAX = 256;
/** Partitions whose expiry index one sweep round reads, at most (sent together: one round trip). */
export const DEFAULT_EXPIRY_SWEEP_PARTITIONS_MAX = 64;
/** The conflict journal, the compensation outbox and the dead letters: size and age bounds (docs/conflicts.md). */
export const CONFLICT_RETENTION_DEFAULTS = {
  journalMaxEntries: 100_000,
  journalMaxBytes: 256 * 1024 * 1024,
  journalMaxAgeMs: 30 * DAY_MS,
  outboxMaxEntries: 100_000,
  outboxMaxAgeMs: DAY_MS,
  deadLetterMaxEntries: 10_000,
  deadLetterMaxAgeMs: 30 * DAY_MS,
  sweepIntervalMs: 10_000,
} as const;
export const REPLICA_WAIT_MS_MAX = 10_000;

const regionName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a region name is 1-32 of [a-z0-9-], starting with a letter');
const keyspaceName = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'a keyspace name is 1-64 of [a-z0-9_-], starting with a letter');
const httpUrl = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));
const port = z.number().int().min(0).max(65535);
const sentinelAddress = z.string().regex(/^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port of a Sentinel');

const nodeEntry = z.strictObject({
  region: regionName,
  replication: z.enum(['async', 'sync']).default('async'),
});

const resolverName = z.string().regex(/^(lww|source-wins|counter|set|json-merge|trigger:[A-Za-z0-9_-]+)$/,
  'one of lww, source-wins, counter, set, json-merge, trigger:<name>');

const keyspace = z.strictObject({
  name: keyspaceName,
  partitions: z.number().int().min(1).max(4096).default(DEFAULT_PARTITIONS),
  ringSlots: z.number().int().min(1).max(65536).default(DEFAULT_RING_SLOTS),
  nodes: z.array(nodeEntry).min(1).optional(),
  rotateHomes: z.boolean().default(true),
  writes: z.enum(['single-master', 'multi-master']).default('single-master'),
  onSplit: z.enum(['fence', 'diverge']).default('fence'),
  resolver: resolverName.default('lww'),
  syncTimeoutMs: z.number().int().min(1).max(60_000).default(DEFAULT_SYNC_TIMEOUT_MS),
  onSyncTimeout: z.enum(['fail', 'demote']).default('fail'),
  durability: z.enum(['local', 'replica']).default('local'),
  replicaWaitMs: z.number().int().min(1).max(REPLICA_WAIT_MS_MAX).default(DEFAULT_REPLICA_WAIT_MS),
});

export const gatewayConfigSchema = z.strictObject({
  region: regionName,
  listen: z.strictObject({ host: z.string().min(1).default('127.0.0.1'), port }),
  publicUrl: httpUrl,
  redis: z.strictObject({
    // exactly one of `url` (standalone) and `sentinels` + `name` (Sentinel): checkStoreMode
    url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').optional(),
    sentinels: z.array(sentinelAddress).min(1).max(16).optional(),
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a Sentinel master name: 1-64 of [A-Za-z0-9_.-]').optional(),
    keyPrefix: z.string().min(1).max(64).regex(/^[^{}]*$/, "'{' and '}' are reserved for the partitions' hash tags").default('gg:'),
    commandTimeoutMs: z.number().int().min(10).max(60_000).default(DEFAULT_REDIS_COMMAND_TIMEOUT_MS),
    /** TLS to Redis (a rediss:// URL, or Sentinel): the CA(s) its certificate chains to, a client certificate when Redis asks (tls-auth-clients). */
    tls: z.strictObject({
      caFile: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(8)]).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** The name Redis's certificate is checked against (default: the URL's host). */
      servername: z.string().min(1).max(253).optional(),
    }).optional(),
  }),
  cluster: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 of [A-Za-z0-9_.-]'),
    // exactly one of secret (one or several), secretFile, secretEnv: resolveSecrets
    ...secretSourceFields,
    regions: z.array(regionName).min(1).max(16),
  }),
  /** TLS on the listener (API + links) and for every dial; peers and witness then at https:// URLs. */
  tls: tlsFilesSchema.optional(),
  // `urls`: every instance of a region with several (coordination.enabled); `url` is one of them or a load balancer
  peers: z.array(z.strictObject({ region: regionName, url: httpUrl, urls: z.array(httpUrl).min(1).max(PEER_URLS_MAX).optional(), publicUrl: httpUrl.optional() })).default([]),
  witness: z.strictObject({ url: httpUrl, timeoutMs: z.number().int().min(10).max(10_000).default(500) }).optional(),
  keyspaces: z.array(keyspace).min(1).max(256),
  limits: z.strictObject({
    keyBytesMax: z.number().int().min(1).max(8192).default(DEFAULT_KEY_BYTES_MAX),
    valueBytesMax: z.number().int().min(1).max(64 * 1024 * 1024).default(DEFAULT_VALUE_BYTES_MAX),
    requestsInFlightMax: z.number().int().min(1).max(1_000_000).default(DEFAULT_REQUESTS_IN_FLIGHT_MAX),
  }).prefault({}),
  idempotency: z.strictObject({
    ttlMs: z.number().int().min(100).max(7 * 24 * 3_600_000).default(DEFAULT_IDEMPOTENCY_TTL_MS),
    entriesMax: z.number().int().min(1).max(100_000_000).default(DEFAULT_IDEMPOTENCY_ENTRIES_MAX),
  }).prefault({}),
  /** Expiry of records (PUT ?ttl=, POST …/expire) and the sweep that tombstones expired ones. */
  expiry: z.strictObject({
    ttlSecondsMax: z.number().int().min(1).max(10 * 365 * 24 * 3600).default(DEFAULT_EXPIRY_TTL_SECONDS_MAX),
    sweepIntervalMs: z.number().int().min(10).max(3_600_000).default(DEFAULT_EXPIRY_SWEEP_INTERVAL_MS),
    sweepRecordsMax: z.number().int().min(1).max(100_000).default(DEFAULT_EXPIRY_SWEEP_RECORDS_MAX),
    sweepPartitionsMax: z.number().int().min(1).max(4096).default(DEFAULT_EXPIRY_SWEEP_PARTITIONS_MAX),
  }).prefault({}),
  /** Session tokens (docs/client.md): how long a read waits for the region to catch up with one, and how many may wait at once. */
  session: z.strictObject({
    waitMs: z.number().int().min(0).max(10_000).default(1000),
    waitersMax: z.number().int().min(1).max(100_000).default(1024),
  }).prefault({}),
  conflicts: z.strictObject({
    journalMaxEntries: z.number().int().min(1).max(100_000_000).default(CONFLICT_RETENTION_DEFAULTS.journalMaxEntries),
    journalMaxBytes: z.number().int().min(1024 * 1024).max(64 * 1024 * 1024 * 1024).default(CONFLICT_RETENTION_DEFAULTS.journalMaxBytes),
    journalMaxAgeMs: z.number().int().min(1000).max(3650 * DAY_MS).default(CONFLICT_RETENTION_DEFAULTS.journalMaxAgeMs),
    outboxMaxEntries: z.number().int().min(1).max(100_000_000).default(CONFLICT_RETENTION_DEFAULTS.outboxMaxEntries),
    outboxMaxAgeMs: z.number().int().min(1000).max(3650 * DAY_MS).default(CONFLICT_RETENTION_DEFAULTS.outboxMaxAgeMs),
    deadLetterMaxEntries: z.number().int().min(1).max(100_000_000).default(CONFLICT_RETENTION_DEFAULTS.deadLetterMaxEntries),
    deadLetterMaxAgeMs: z.number().int().min(1000).max(3650 * DAY_MS).default(CONFLICT_RETENTION_DEFAULTS.deadLetterMaxAgeMs),
    sweepIntervalMs: z.number().int().min(100).max(3_600_000).default(CONFLICT_RETENTION_DEFAULTS.sweepIntervalMs),
  }).prefault({}),
  log: z.strictObject({
    maxEntries: z.number().int().min(16).max(100_000_000).default(DEFAULT_LOG_MAX_ENTRIES),
    maxBytes: z.number().int().min(1024).default(DEFAULT_LOG_MAX_BYTES),
  }).prefault({}),
  replication: z.strictObject({
    heartbeatMs: z.number().int().min(10).max(60_000).default(DEFAULT_HEARTBEAT_MS),
    missedMax: z.number().int().min(1).max(100).default(DEFAULT_MISSED_MAX),
    batchRecordsMax: z.number().int().min(1).max(65_536).default(512),
    batchBytesMax: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    windowBatchesMax: z.number().int().min(1).max(1024).default(8),
    frameBytesMax: z.number().int().min(4096).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
    /** A received record whose HLC wall time is further ahead of the local clock is refused (record-check.ts). */
    hlcAheadMsMax: z.number().int().min(100).max(24 * 3_600_000).default(60_000),
  }).prefault({}),
  lease: z.strictObject({
    leaseMs: z.number().int().min(100).max(600_000).default(DEFAULT_LEASE_MS),
    driftMarginMs: z.number().int().min(0).max(60_000).default(DEFAULT_DRIFT_MARGIN_MS),
  }).prefault({}),
  /**
   * Several gateway instances per region (docs/config.md, "Several instances per region"):
   * one at a time, elected through the region's Redis, is the region's coordinator.
   */
  coordination: z.strictObject({
    enabled: z.boolean().default(false),
    /** This instance's name in the election (default: host, pid and a random part). */
    instanceId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, '1-64 of [A-Za-z0-9._:-]').optional(),
    /** Where this instance is reached (default: its listening address). */
    instanceUrl: httpUrl.optional(),
    leaseMs: z.number().int().min(200).max(60_000).default(DEFAULT_COORDINATOR_LEASE_MS),
    renewMs: z.number().int().min(10).max(30_000).default(DEFAULT_COORDINATOR_RENEW_MS),
    driftMarginMs: z.number().int().min(0).max(10_000).default(DEFAULT_COORDINATOR_DRIFT_MARGIN_MS),
  }).prefault({}),
  merkle: z.strictObject({ buckets: z.number().int().min(1).max(65_536).default(DEFAULT_MERKLE_BUCKETS) }).prefault({}),
  antiEntropy: z.strictObject({
    enabled: z.boolean().default(true),
    backgroundIntervalMs: z.number().int().min(0).default(DEFAULT_AE_BACKGROUND_INTERVAL_MS),
    repairOnHeal: z.boolean().default(true),
    healDelayMs: z.number().int().min(0).max(600_000).default(1000),
    tombstoneGraceMs: z.number().int().min(0).default(60 * 60 * 1000),
    tombstoneIntervalMs: z.number().int().min(0).default(DEFAULT_TOMBSTONE_INTERVAL_MS),
    sessionsPerPeerMax: z.number().int().min(1).max(64).default(2),
    bootstrapWriteWaitMs: z.number().int().min(0).max(3_600_000).default(DEFAULT_BOOTSTRAP_WRITE_WAIT_MS),
  }).prefault({}),
  /** Reload the credential files when they change (polled every watchMs; 0: only on SIGHUP). */
  credentials: z.strictObject({ watchMs: z.number().int().min(0).max(3_600_000).default(2000) }).prefault({}),
  admin: z.strictObject({
    // at most one of token, tokenFile, tokenEnv (none: admin endpoints answer 404)
    ...tokenSourceFields,
    /** Also guard /v1/status, /v1/conflicts, /v1/decisions and /metrics with the token. */
    protectReads: z.boolean().default(false),
  }).prefault({}),
  triggers: z.array(z.strictObject({ name: z.string().regex(/^[A-Za-z0-9_-]+$/), module: z.string().min(1) })).default([]),
});

type ParsedGatewayConfig = z.infer<typeof gatewayConfigSchema>;
/** `cluster.secret` is the signing secret and `cluster.secrets` every accepted one; `admin.tokens` the accepted tokens (read from where the config names). */
export type GatewayConfig = Readonly<Omit<ParsedGatewayConfig, 'cluster' | 'admin'> & {
  cluster: ParsedGatewayConfig['cluster'] & { readonly secret: string; readonly secrets: readonly string[] };
  admin: ParsedGatewayConfig['admin'] & { readonly tokens: readonly string[] };
}>;
export type KeyspaceConfig = GatewayConfig['keyspaces'][number];

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Validates a parsed JSON value; `file` names the source in errors. */
export function parseGatewayConfig(raw: unknown, file: string): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.code === 'unrecognized_keys'
      ? fieldPath([...issue.path, issue.keys[0] ?? ''])
      : fieldPath(issue.path);
    const problem = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    throw new ConfigError(file, field, problem);
  }
  const config = result.data;
  checkCrossFields(config, file);
  checkTls(config, file);
  return deepFreeze(resolveSecrets(config, file));
}

/** Reads the cluster secrets and admin tokens from where the config names them (relative paths: from the config file's directory). */
function resolveSecrets(c: ParsedGatewayConfig, file: string): GatewayConfig {
  const baseDir = dirname(resolve(file));
  const cluster = { inline: c.cluster.secret, file: c.cluster.secretFile, env: c.cluster.secretEnv };
  const admin = { inline: c.admin.token, file: c.admin.tokenFile, env: c.admin.tokenEnv };
  const p1 = sourceProblem(cluster, ['cluster.secret', 'cluster.secretFile', 'cluster.secretEnv'], true);
  if (p1) throw new ConfigError(file, 'cluster.secret', p1);
  const p2 = sourceProblem(admin, ['admin.token', 'admin.tokenFile', 'admin.tokenEnv'], false);
  if (p2) throw new ConfigError(file, 'admin.token', p2);
  try {
    const secrets = readSecrets(cluster, 'cluster.secret', baseDir);
    const tokens = readSecrets(admin, 'admin.token', baseDir);
    if (c.admin.protectReads && tokens.length === 0) throw new CredentialsError('admin.protectReads', 'needs admin.token, admin.tokenFile or admin.tokenEnv');
    const rt = c.redis.tls;
    const abs = (f: string | undefined) => (f === undefined ? undefined : resolve(baseDir, f));
    const redisTls = rt && {
      ...rt, certFile: abs(rt.certFile), keyFile: abs(rt.keyFile),
      caFile: rt.caFile === undefined ? undefined : typeof rt.caFile === 'string' ? resolve(baseDir, rt.caFile) : rt.caFile.map((f) => resolve(baseDir, f)),
    };
    const redis = redisTls ? { ...c.redis, tls: JSON.parse(JSON.stringify(redisTls)) as typeof rt } : c.redis;
    return { ...c, redis, cluster: { ...c.cluster, secret: secrets[0]!, secrets }, admin: { ...c.admin, tokens } };
  } catch (err) {
    if (err instanceof CredentialsError) throw new ConfigError(file, err.field, err.message);
    throw err;
  }
}

/** With `tls`, every peer and the witness are dialled at https:// (mutual TLS); without, none is. */
function checkTls(c: ParsedGatewayConfig, file: string): void {
  const want = c.tls ? 'https:' : 'http:';
  const why = c.tls ? 'with tls set, links use mutual TLS: an https:// URL' : 'an https:// peer needs tls (certFile, keyFile, caFile) for mutual TLS';
  c.peers.forEach((p, i) => { if (new URL(p.url).protocol !== want) throw new ConfigError(file, `peers[${i}].url`, why); });
  const rt = c.redis.tls;
  if (rt && c.redis.url !== undefined && !c.redis.url.startsWith('rediss://')) throw new ConfigError(file, 'redis.tls', 'needs a rediss:// URL');
  if (rt && (rt.certFile === undefined) !== (rt.keyFile === undefined)) throw new ConfigError(file, rt.certFile === undefined ? 'redis.tls.certFile' : 'redis.tls.keyFile', 'certFile and keyFile go together');
  if (c.witness && new URL(c.witness.url).protocol !== want) throw new ConfigError(file, 'witness.url', why);
}

function checkCrossFields(c: z.infer<typeof gatewayConfigSchema>, file: string): void {
  const regions = c.cluster.regions;
  if (new Set(regions).size !== regions.length) throw new ConfigError(file, 'cluster.regions', 'duplicate region');
  if (!regions.includes(c.region)) throw new ConfigError(file, 'region', `"${c.region}" is not in cluster.regions`);
  const seen = new Set<string>();
  c.peers.forEach((p, i) => {
    if (p.region === c.region) throw new ConfigError(file, `peers[${i}].region`, 'a region is not its own peer');
    if (!regions.includes(p.region)) throw new ConfigError(file, `peers[${i}].region`, `"${p.region}" is not in cluster.regions`);
    if (seen.has(p.region)) throw new ConfigError(file, `peers[${i}].region`, 'duplicate peer');
    seen.add(p.region);
  });
  checkStoreMode(c, file);
  const names = new Set<string>();
  c.keyspaces.forEach((ks, i) => {
    if (names.has(ks.name)) throw new ConfigError(file, `keyspaces[${i}].name`, 'duplicate keyspace');
    names.add(ks.name);
    if (ks.ringSlots < ks.partitions) throw new ConfigError(file, `keyspaces[${i}].ringSlots`, 'must be at least partitions');
    ks.nodes?.forEach((n, j) => {
      if (!regions.includes(n.region)) throw new ConfigError(file, `keyspaces[${i}].nodes[${j}].region`, `"${n.region}" is not in cluster.regions`);
    });
    if (ks.nodes && new Set(ks.nodes.map((n) => n.region)).size !== ks.nodes.length) {
      throw new ConfigError(file, `keyspaces[${i}].nodes`, 'duplicate region');
    }
    if (ks.durability === 'replica' && ks.replicaWaitMs >= c.redis.commandTimeoutMs) {
      throw new ConfigError(file, `keyspaces[${i}].replicaWaitMs`, `${ks.replicaWaitMs} must be below redis.commandTimeoutMs ${c.redis.commandTimeoutMs} (the WAIT would time out as a command first)`);
    }
    const trigger = ks.resolver.startsWith('trigger:') ? ks.resolver.slice(8) : null;
    if (trigger && !c.triggers.some((t) => t.name === trigger)) {
      throw new ConfigError(file, `keyspaces[${i}].resolver`, `trigger "${trigger}" is not registered in triggers`);
    }
  });
  checkLimits(c, file);
}

/** The region's store: `redis.url` (standalone) or `redis.sentinels` + `redis.name` (Sentinel), exactly one. */
function checkStoreMode(c: z.infer<typeof gatewayConfigSchema>, file: string): void {
  const r = c.redis;
  if (r.url !== undefined && r.sentinels !== undefined) throw new ConfigError(file, 'redis.sentinels', 'give either redis.url or redis.sentinels, not both');
  if (r.url === undefined && r.sentinels === undefined) throw new ConfigError(file, 'redis.url', 'required (or redis.sentinels with redis.name)');
  if (r.sentinels !== undefined && r.name === undefined) throw new ConfigError(file, 'redis.name', 'required with redis.sentinels (the master name the sentinels monitor)');
  if (r.url !== undefined && r.name !== undefined) throw new ConfigError(file, 'redis.name', 'only with redis.sentinels');
}

/**
 * Limit combinations that would wedge a link or never give a lease: each error names both
 * fields (docs/config.md, "Limits that must fit together").
 */
function checkLimits(c: z.infer<typeof gatewayConfigSchema>, file: string): void {
  const r = c.replication;
  if (r.batchRecordsMax > APPLY_BATCH_RECORDS_MAX) {
    throw new ConfigError(file, 'replication.batchRecordsMax',
      `${r.batchRecordsMax} is above ${APPLY_BATCH_RECORDS_MAX}, the most records the apply script takes in one call: the peer would refuse every full batch`);
  }
  const recordFrame = changesFrameBytesMax(1, c.limits.keyBytesMax + c.limits.valueBytesMax + PACKED_METADATA_BYTES_MAX);
  if (recordFrame > r.frameBytesMax) {
    throw new ConfigError(file, 'limits.valueBytesMax',
      `a record with limits.valueBytesMax ${c.limits.valueBytesMax}, limits.keyBytesMax ${c.limits.keyBytesMax} and its metadata takes up to ${recordFrame} bytes in a frame, above replication.frameBytesMax ${r.frameBytesMax}: it could never be replicated`);
  }
  const batchFrame = changesFrameBytesMax(r.batchRecordsMax, r.batchBytesMax);
  if (batchFrame > r.frameBytesMax) {
    throw new ConfigError(file, 'replication.batchBytesMax',
      `a batch of replication.batchBytesMax ${r.batchBytesMax} bytes in up to replication.batchRecordsMax ${r.batchRecordsMax} records takes up to ${batchFrame} bytes in a frame, above replication.frameBytesMax ${r.frameBytesMax}`);
  }
  const co = c.coordination;
  if (co.renewMs * 2 > co.leaseMs - co.driftMarginMs) {
    throw new ConfigError(file, 'coordination.renewMs', `${co.renewMs} must be at most half of coordination.leaseMs - coordination.driftMarginMs (${co.leaseMs - co.driftMarginMs}): the coordinator must renew well inside its lease`);
  }
  if (c.lease.driftMarginMs >= c.lease.leaseMs) {
    throw new ConfigError(file, 'lease.driftMarginMs', `${c.lease.driftMarginMs} must be below lease.leaseMs ${c.lease.leaseMs} (a lease is valid for leaseMs - driftMarginMs)`);
  }
}

/** Reads, parses and validates a config file. */
export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '', `cannot read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, '', `not valid JSON: ${(err as Error).message}`);
  }
  return parseGatewayConfig(raw, file);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
