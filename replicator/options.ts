/** Replicator options: one zod schema, `DEFAULT_*` constants, parsed once into a frozen object. */
import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Clock } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import { DEFAULT_ACK_WAITERS_MAX } from './acks.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { DEFAULT_FRAME_BYTES_MAX } from './codec.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './dialer.js';
import { ReplicatorOptionsError } from './errors.js';
import { DEFAULT_HANDSHAKE_MS, type LinkSettings } from './handshake.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_MISSED_MAX } from './heartbeat.js';
import { DEFAULT_RECEIVE_QUEUE_BATCHES_MAX } from './receiver.js';
import { DEFAULT_BATCH_BYTES_MAX, DEFAULT_BATCH_RECORDS_MAX, DEFAULT_POLL_MS, DEFAULT_WINDOW_BATCHES_MAX } from './sender.js';
import type { LinkIdentity } from './server.js';
import type { ChangeSink, LogSource, PeerHealth } from './types.js';

/** Down after this many suspect periods of silence. */
/** At most this many URLs per peer region (its instances). */
export const PEER_URLS_MAX = 16;

export const DEFAULT_DOWN_FACTOR = 2;
export const DEFAULT_TRIM_INTERVAL_MS = 1_000;
/** Control frames are refused while this many bytes wait in the socket. */
export const DEFAULT_SEND_BUFFER_BYTES_MAX = 16 * 1024 * 1024;

const positiveInt = z.number().int().positive();
const region = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only');

const tunables = z.object({
  region,
  clusterId: z.string().min(1).max(128),
  secret: z.string().min(16, 'at least 16 characters'),
  /** `urls`: every instance of the peer region (its coordinator serves the link); dialled in turn from `url`. */
  peers: z.array(z.object({ region, url: z.url(), urls: z.array(z.url()).min(1).max(PEER_URLS_MAX).optional() })).max(64),
  heartbeatMs: positiveInt.default(DEFAULT_HEARTBEAT_MS),
  missedMax: positiveInt.default(DEFAULT_MISSED_MAX),
  downFactor: z.number().min(1).default(DEFAULT_DOWN_FACTOR),
  batchRecordsMax: positiveInt.default(DEFAULT_BATCH_RECORDS_MAX),
  batchBytesMax: positiveInt.default(DEFAULT_BATCH_BYTES_MAX),
  windowBatchesMax: positiveInt.default(DEFAULT_WINDOW_BATCHES_MAX),
  receiveQueueBatchesMax: positiveInt.default(DEFAULT_RECEIVE_QUEUE_BATCHES_MAX),
  frameBytesMax: positiveInt.min(1024).default(DEFAULT_FRAME_BYTES_MAX),
  sendBufferBytesMax: positiveInt.default(DEFAULT_SEND_BUFFER_BYTES_MAX),
  pollMs: positiveInt.default(DEFAULT_POLL_MS),
  trimIntervalMs: z.number().int().nonnegative().default(DEFAULT_TRIM_INTERVAL_MS),
  ackWaitersMax: positiveInt.default(DEFAULT_ACK_WAITERS_MAX),
  handshakeMs: positiveInt.default(DEFAULT_HANDSHAKE_MS),
  connectTimeoutMs: positiveInt.default(DEFAULT_CONNECT_TIMEOUT_MS),
  backoff: z.object({
    initialMs: positiveInt.default(DEFAULT_BACKOFF.initialMs),
    maxMs: positiveInt.default(DEFAULT_BACKOFF.maxMs),
    multiplier: z.number().min(1).default(DEFAULT_BACKOFF.multiplier),
    jitter: z.number().min(0).max(1).default(DEFAULT_BACKOFF.jitter),
    unreachableMaxMs: positiveInt.default(DEFAULT_BACKOFF.unreachableMaxMs!),
  }).default({ ...DEFAULT_BACKOFF, unreachableMaxMs: DEFAULT_BACKOFF.unreachableMaxMs! }),
});

export type ReplicatorTunables = z.input<typeof tunables>;

export interface ReplicatorDeps {
  readonly source: LogSource;
  readonly sink: ChangeSink;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly registry: Registry;
  /** Load and fenced partitions for heartbeats (default: none). */
  readonly health?: () => Pick<PeerHealth, 'loadPermille' | 'fenced'>;
  /** Shared settings compared at every handshake (default: none exchanged). */
  readonly settings?: LinkSettings;
  /** Cluster secrets read at every handshake, the first signs (rotation; default: [secret]). */
  readonly secrets?: () => readonly string[];
  /** TLS of the links (default: none: ws:// peers, plain listener). */
  readonly tls?: LinkTls;
}

/** What the links need of TLS; the policy (CA, identities) is the caller's (security/). */
export interface LinkTls {
  /** TLS options for dialing `peer` at a wss:// URL: certificate, CAs, the check that the server is `peer`. */
  dial(peer: string): Record<string, unknown>;
  /** The dialer's verified certificate on the TLS listener, or why it is refused. */
  identify(req: IncomingMessage): LinkIdentity | { readonly problem: string };
}

export type ReplicatorOptions = ReplicatorTunables & ReplicatorDeps;
export type ParsedReplicatorOptions = Readonly<z.output<typeof tunables>> & ReplicatorDeps;

export function parseReplicatorOptions(options: ReplicatorOptions): ParsedReplicatorOptions {
  const { source, sink, clock, random, log, registry, health, settings, secrets, tls, ...rest } = options;
  const parsed = tunables.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReplicatorOptionsError(issue?.path.join('.') || '(root)', issue?.message ?? 'invalid');
  }
  const value = parsed.data;
  const regions = value.peers.map((p) => p.region);
  if (new Set(regions).size !== regions.length) throw new ReplicatorOptionsError('peers', 'duplicate peer region');
  if (regions.includes(value.region)) throw new ReplicatorOptionsError('peers', 'a region cannot be its own peer');
  if (value.batchBytesMax >= value.frameBytesMax) throw new ReplicatorOptionsError('batchBytesMax', 'must be below frameBytesMax');
  if (value.backoff.initialMs > value.backoff.maxMs) throw new ReplicatorOptionsError('backoff.initialMs', 'must not exceed backoff.maxMs');
  const deps: ReplicatorDeps = { source, sink, clock, random, log, registry, ...(health ? { health } : {}), ...(settings ? { settings } : {}), ...(secrets ? { secrets } : {}), ...(tls ? { tls } : {}) };
  return Object.freeze({ ...value, ...deps });
}
