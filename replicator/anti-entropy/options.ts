/** Anti-entropy options: one zod schema, `DEFAULT_*` constants, parsed once into a frozen object. */
import { z } from 'zod';
import { ReplicatorOptionsError } from '../errors.js';
import { BUCKETS_PER_REQUEST_MAX, ITEMS_PER_TOMBSTONE_REQUEST_MAX, KEYS_PER_REQUEST_MAX, PARENTS_PER_REQUEST_MAX } from './messages.js';
import { DEFAULT_FANOUT, FANOUT_MAX } from './tree.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES_MAX = 3;
export const DEFAULT_RETRY_BACKOFF_MS = 200;
export const DEFAULT_SESSIONS_PER_PEER_MAX = 2;
export const DEFAULT_SERVING_PER_PEER_MAX = 16;
export const DEFAULT_REQUESTS_IN_FLIGHT_MAX = 64;
export const DEFAULT_MESSAGE_BYTES_MAX = 1024 * 1024;
export const DEFAULT_PARENTS_PER_REQUEST_MAX = 2048;
export const DEFAULT_BUCKETS_PER_REQUEST_MAX = 1024;
export const DEFAULT_ENTRIES_PER_REPLY_MAX = 8192;
export const DEFAULT_KEYS_PER_GET_MAX = 1024;
export const DEFAULT_KEYS_PER_NEED_MAX = 4096;
export const DEFAULT_ROUNDS_MAX = 3;
export const DEFAULT_QUEUE_PER_PEER_MAX = 65_536;
export const DEFAULT_HEAL_DELAY_MS = 1_000;
export const DEFAULT_BACKGROUND_INTERVAL_MS = 0;
export const DEFAULT_TOMBSTONE_GRACE_MS = 60 * 60 * 1000;
export const DEFAULT_TOMBSTONE_BATCH_MAX = 256;
export const DEFAULT_TOMBSTONE_SCAN_COUNT = 1000;
export const DEFAULT_TREE_CACHE_ENTRIES_MAX = 64;
export const DEFAULT_TREE_CACHE_AGE_MS_MAX = 120_000;

const pos = z.number().int().positive();
const nonneg = z.number().int().nonnegative();

export const antiEntropyOptionsSchema = z.strictObject({
  fanout: z.number().int().min(2).max(FANOUT_MAX).default(DEFAULT_FANOUT),
  requestTimeoutMs: pos.default(DEFAULT_REQUEST_TIMEOUT_MS),
  retriesMax: nonneg.max(20).default(DEFAULT_RETRIES_MAX),
  retryBackoffMs: pos.default(DEFAULT_RETRY_BACKOFF_MS),
  /** Partition sessions this region runs against one peer at a time. */
  sessionsPerPeerMax: pos.max(64).default(DEFAULT_SESSIONS_PER_PEER_MAX),
  /** Requests from one peer served at a time; more are answered `busy` (the peer retries). */
  servingPerPeerMax: pos.max(1024).default(DEFAULT_SERVING_PER_PEER_MAX),
  /** Requests this region has outstanding toward one peer. */
  requestsInFlightMax: pos.max(4096).default(DEFAULT_REQUESTS_IN_FLIGHT_MAX),
  /** Soft bound of one reply carrying records or key lists (a single record may exceed it up to frameBytesMax). */
  messageBytesMax: pos.min(4096).default(DEFAULT_MESSAGE_BYTES_MAX),
  /** Hard bound: the replicator's frame size. */
  frameBytesMax: pos.min(4096).default(4 * 1024 * 1024),
  parentsPerRequestMax: pos.max(PARENTS_PER_REQUEST_MAX).default(DEFAULT_PARENTS_PER_REQUEST_MAX),
  bucketsPerRequestMax: pos.max(BUCKETS_PER_REQUEST_MAX).default(DEFAULT_BUCKETS_PER_REQUEST_MAX),
  entriesPerReplyMax: pos.max(65_536).default(DEFAULT_ENTRIES_PER_REPLY_MAX),
  keysPerGetMax: pos.max(KEYS_PER_REQUEST_MAX).default(DEFAULT_KEYS_PER_GET_MAX),
  keysPerNeedMax: pos.max(KEYS_PER_REQUEST_MAX).default(DEFAULT_KEYS_PER_NEED_MAX),
  /** Compare-and-repair rounds per partition session (stops early once the roots match). */
  roundsMax: pos.max(16).default(DEFAULT_ROUNDS_MAX),
  /** Partition sessions waiting per peer; `repairAll` beyond it fails fast. */
  queuePerPeerMax: pos.default(DEFAULT_QUEUE_PER_PEER_MAX),
  /** Repair every partition with a peer that comes back `up` after `down` (this region initiates if its name sorts first). */
  repairOnHeal: z.boolean().default(true),
  healDelayMs: nonneg.default(DEFAULT_HEAL_DELAY_MS),
  /** One partition every this many ms with each up peer, round robin (0 = off). */
  backgroundIntervalMs: nonneg.default(DEFAULT_BACKGROUND_INTERVAL_MS),
  /** A tombstone younger than this (HLC wall time) is never collected. */
  tombstoneGraceMs: nonneg.default(DEFAULT_TOMBSTONE_GRACE_MS),
  tombstoneBatchMax: pos.max(ITEMS_PER_TOMBSTONE_REQUEST_MAX).default(DEFAULT_TOMBSTONE_BATCH_MAX),
  tombstoneScanCount: pos.max(100_000).default(DEFAULT_TOMBSTONE_SCAN_COUNT),
  /** Collect tombstones every this many ms (0 = only when `collectTombstones()` is called). */
  tombstoneIntervalMs: nonneg.default(0),
  /** Responder trees cached (one per session and partition; ≈ 8 B × buckets each). */
  treeCacheEntriesMax: pos.max(4096).default(DEFAULT_TREE_CACHE_ENTRIES_MAX),
  /** A cached tree is read again from the store after this long, even within one session. */
  treeCacheAgeMsMax: pos.default(DEFAULT_TREE_CACHE_AGE_MS_MAX),
});

export type AntiEntropyTunables = z.input<typeof antiEntropyOptionsSchema>;
export type AntiEntropyLimits = Readonly<z.output<typeof antiEntropyOptionsSchema>>;

export function parseAntiEntropyOptions(raw: AntiEntropyTunables = {}): AntiEntropyLimits {
  const parsed = antiEntropyOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReplicatorOptionsError(`antiEntropy.${issue?.path.join('.') || '(root)'}`, issue?.message ?? 'invalid');
  }
  const o = parsed.data;
  if (o.messageBytesMax >= o.frameBytesMax) throw new ReplicatorOptionsError('antiEntropy.messageBytesMax', 'must be below frameBytesMax');
  return Object.freeze(o);
}
