import { z } from 'zod';
import { sharedSettingsSchema } from './shared-settings.js';

/**
 * Ownership messages: plain serialisable objects. Region↔region confirmations travel on the
 * replication link as opaque payloads; region↔witness messages travel over HTTP. Every
 * message carries the protocol version `v`.
 */
export const PROTOCOL_VERSION = 1;
/** Bound on partitions per message (and on partitions per cluster). */
export const ITEMS_MAX = 4096;
export const NAME_CHARS_MAX = 64;

const name = z.string().min(1).max(NAME_CHARS_MAX);
const epoch = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const partition = z.number().int().min(0).max(1_000_000);
const v = z.literal(PROTOCOL_VERSION);
/**
 * The sender's coordinator term (its fencing token, gateway/coordination/) when the region runs
 * several instances; absent for a single instance. Optional, so a region without coordination
 * sends exactly what it sent before (a witness that predates the field refuses it: upgrade the
 * witness before enabling coordination). The witness keeps the latest term per region and
 * refuses a released failback of an older term (`stale-term`).
 */
const term = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional();

export const RefusalReasons = [
  'quiet', // voter booted less than leaseMs ago: it may have forgotten a promise
  'stale-epoch', // the voter knows a newer epoch (see owner/epoch in the verdict)
  'unknown-epoch', // the witness never issued that epoch
  'not-owner', // the asker is not the owner at that epoch
  'promised-other', // the voter promised another owner until its promise ends
  'not-viable', // the witness judges the owner unable to reach a majority
  'unknown-partition',
] as const;
export type RefusalReason = (typeof RefusalReasons)[number];

export const confirmItemSchema = z.object({ keyspace: name, partition, epoch }).strict();
export const confirmRequestSchema = z
  .object({ v, from: name, term, round: z.number().int().min(0), items: z.array(confirmItemSchema).max(ITEMS_MAX) })
  .strict();
export const confirmVerdictSchema = z
  .object({ keyspace: name, partition, ok: z.boolean(), owner: name, epoch, reason: z.enum(RefusalReasons).optional() })
  .strict();
export const confirmReplySchema = z
  .object({ v, voter: name, round: z.number().int().min(0), items: z.array(confirmVerdictSchema).max(ITEMS_MAX) })
  .strict();

export const GrantReasons = ['owner-unreachable', 'failback'] as const;
export const grantRequestSchema = z
  .object({
    v,
    from: name,
    term,
    keyspace: name,
    partition,
    knownEpoch: epoch,
    reason: z.enum(GrantReasons),
    target: name.optional(),
    /**
     * With `failback`: the owner already stopped writing the partition at `knownEpoch`,
     * drained it to `target` and gave up its lease; the witness may forget its promise to it.
     */
    released: z.boolean().optional(),
  })
  .strict();
export const grantReplySchema = z
  .object({
    v,
    keyspace: name,
    partition,
    outcome: z.enum(['granted', 'unchanged', 'refused']),
    owner: name,
    epoch,
    reason: z.string().max(200),
    retryAfterMs: z.number().min(0).optional(),
  })
  .strict();

/** Several grant requests of one region in one call (a failover of many partitions at once). */
export const GRANTS_PER_CALL_MAX = 1024;
export const grantBatchRequestSchema = z
  .object({ v, from: name, items: z.array(grantRequestSchema).min(1).max(GRANTS_PER_CALL_MAX) })
  .strict()
  .refine((b) => b.items.every((i) => i.from === b.from), { message: 'every item must come from the caller' });
export const grantBatchReplySchema = z.object({ v, items: z.array(grantReplySchema).max(GRANTS_PER_CALL_MAX) }).strict();

/**
 * Settings handshake (witness/shared-settings.ts): a region sends its voter settings once
 * (and again after a refusal); the witness answers 409 `SettingsMismatch` naming the first
 * differing field, or its digest. Every later request carries the region's digest in the
 * `SETTINGS_HEADER` header; a digest other than the witness's is refused (409).
 */
export const SETTINGS_HEADER = 'x-geogate-settings';
export const SETTINGS_MISMATCH_STATUS = 409;
export const digestSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest');
export const helloRequestSchema = z.object({ v, from: name, settings: sharedSettingsSchema }).strict();
export const helloReplySchema = z.object({ v, digest: digestSchema }).strict();
export type HelloRequest = z.infer<typeof helloRequestSchema>;

export const ownerEntrySchema = z.object({ keyspace: name, partition, owner: name, epoch }).strict();
export const heartbeatRequestSchema = z.object({ v, from: name, term, peersUp: z.array(name).max(64) }).strict();
export const heartbeatReplySchema = z
  .object({
    v,
    quiet: z.boolean(),
    heard: z.array(name).max(64),
    viable: z.array(name).max(64),
    owners: z.array(ownerEntrySchema).max(ITEMS_MAX),
  })
  .strict();

export type ConfirmItem = z.infer<typeof confirmItemSchema>;
export type ConfirmRequest = z.infer<typeof confirmRequestSchema>;
export type ConfirmVerdict = z.infer<typeof confirmVerdictSchema>;
export type ConfirmReply = z.infer<typeof confirmReplySchema>;
export type GrantReason = (typeof GrantReasons)[number];
export type GrantRequest = z.infer<typeof grantRequestSchema>;
export type GrantReply = z.infer<typeof grantReplySchema>;
export type GrantBatchRequest = z.infer<typeof grantBatchRequestSchema>;
export type GrantBatchReply = z.infer<typeof grantBatchReplySchema>;
export type OwnerEntry = z.infer<typeof ownerEntrySchema>;
export type HeartbeatRequest = z.infer<typeof heartbeatRequestSchema>;
export type HeartbeatReply = z.infer<typeof heartbeatReplySchema>;

/**
 * The seam the gateway plugs into the replication link: ask one peer region to confirm a
 * lease (resolves null on timeout or a down link; never rejects).
 */
export interface VoteTransport {
  ask(voter: string, msg: ConfirmRequest, timeoutMs: number): Promise<ConfirmReply | null>;
}
