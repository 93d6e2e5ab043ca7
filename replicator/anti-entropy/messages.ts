/**
 * Anti-entropy messages, carried as the body of replicator control frames on topic `ae`
 * (msgpack, so values travel as binary). Requests carry an `id` unique per sender; the
 * answer is `{ op: 'r', id, ... }` or `{ op: 'e', id, code, msg }`. Every list has a
 * protocol maximum here; the configured limits are at or below it. A body from a peer is
 * untrusted: `parseMessage` never throws.
 */
import { z } from 'zod';

export const AE_TOPIC = 'ae';
/** Protocol maxima (configured limits may only be lower). */
export const PARENTS_PER_REQUEST_MAX = 8192;
export const BUCKETS_PER_REQUEST_MAX = 8192;
export const KEYS_PER_REQUEST_MAX = 8192;
export const ENTRIES_PER_REPLY_MAX = 65_536;
export const ITEMS_PER_TOMBSTONE_REQUEST_MAX = 4096;
export const KEY_CHARS_MAX = 64 * 1024;

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const id = uint;
const ks = z.string().min(1).max(64);
const key = z.string().max(KEY_CHARS_MAX);
const vv = z.string().max(4096);
const sid = z.string().min(1).max(64);
const bytes = z.custom<Uint8Array>((x) => x instanceof Uint8Array, 'binary');

/** One full record version on the wire: [key, partition, bucket, value, contentType, vv, hlc, origin, epoch, tombstone, expiresAtMs?]. */
export const wireRecord = z.tuple([key, uint, uint, bytes, z.string().max(256), vv,
  z.string().max(64), z.string().max(64), uint, z.union([z.literal(0), z.literal(1)]), uint.min(1).optional()]);
export type WireRecord = z.infer<typeof wireRecord>;

const requests = {
  /**
   * Children of `ps` at level `lv` (lv = -1: the root itself). `n`/`f` must match the
   * responder's tree. `sid` names the round (it salts the wire hashes); `ss` names the
   * session: the responder keeps the tree across the session's rounds and, when `sid`
   * changes, re-reads only the buckets it applied `need` keys to (without `ss`: one tree per `sid`).
   */
  tree: z.object({ op: z.literal('tree'), id, sid, ss: sid.optional(), ks, p: uint, n: uint, f: uint, lv: z.number().int().min(-1).max(64), ps: z.array(uint).max(PARENTS_PER_REQUEST_MAX) }),
  /** (key, version) of buckets `bs`, from bs[i] at HSCAN cursor `c`. */
  keys: z.object({ op: z.literal('keys'), id, ks, p: uint, n: uint, bs: z.array(uint).min(1).max(BUCKETS_PER_REQUEST_MAX), i: uint, c: z.string().max(32) }),
  /** Full records of `keys` (all in partition `p`). */
  get: z.object({ op: z.literal('get'), id, ks, p: uint, keys: z.array(key).min(1).max(KEYS_PER_REQUEST_MAX) }),
  /** "You lack or hold older versions of `keys`: pull them from me." `sid`: the session (`ss` of its `tree` requests). */
  need: z.object({ op: z.literal('need'), id, sid, ks, p: uint, keys: z.array(key).min(1).max(KEYS_PER_REQUEST_MAX) }),
  /** Does the responder hold each tombstone (key, version)? */
  tcheck: z.object({ op: z.literal('tcheck'), id, ks, items: z.array(z.tuple([key, vv])).min(1).max(ITEMS_PER_TOMBSTONE_REQUEST_MAX) }),
  /** Delete each tombstone (key, partition, bucket, version) if it is exactly that tombstone. */
  tcollect: z.object({ op: z.literal('tcollect'), id, ks, items: z.array(z.tuple([key, uint, uint, vv])).min(1).max(ITEMS_PER_TOMBSTONE_REQUEST_MAX) }),
} as const;

export type RequestOp = keyof typeof requests;
export type AeRequest = { [K in RequestOp]: z.infer<(typeof requests)[K]> }[RequestOp];
export type RequestOf<K extends RequestOp> = z.infer<(typeof requests)[K]>;

const replies = {
  tree: z.object({ h: bytes }),
  keys: z.object({ b: z.array(uint).max(ENTRIES_PER_REPLY_MAX), k: z.array(key).max(ENTRIES_PER_REPLY_MAX), v: z.array(vv).max(ENTRIES_PER_REPLY_MAX), ni: uint.nullable(), nc: z.string().max(32) })
    .refine((r) => r.b.length === r.k.length && r.k.length === r.v.length, 'b, k, v lengths differ'),
  get: z.object({ recs: z.array(wireRecord).max(KEYS_PER_REQUEST_MAX), n: uint }),
  need: z.object({ applied: uint, conflict: uint, dominated: uint, duplicate: uint, bytes: uint }),
  tcheck: z.object({ codes: z.array(z.number().int().min(0).max(3)).max(ITEMS_PER_TOMBSTONE_REQUEST_MAX), quiet: z.boolean() }),
  tcollect: z.object({ codes: z.array(z.number().int().min(0).max(3)).max(ITEMS_PER_TOMBSTONE_REQUEST_MAX), quiet: z.boolean() }),
} as const;
export type ReplyOf<K extends RequestOp> = z.infer<(typeof replies)[K]>;

/** Tombstone check codes (tcheck / tcollect replies). */
export const TOMB_HOLDS = 0; // holds exactly this tombstone (tcollect: deleted it)
export const TOMB_ABSENT = 1; // holds no version of the key
export const TOMB_NEWER = 2; // holds a version that dominates the tombstone
export const TOMB_OTHER = 3; // holds an older or concurrent version (or a pending conflict)

export type ErrorCode = 'bad_request' | 'unknown_keyspace' | 'config_mismatch' | 'busy' | 'failed';

export type Incoming =
  | { readonly kind: 'request'; readonly req: AeRequest }
  | { readonly kind: 'reply'; readonly id: number; readonly body: Record<string, unknown> }
  | { readonly kind: 'error'; readonly id: number; readonly code: string; readonly msg: string }
  | { readonly kind: 'invalid'; readonly id: number | null; readonly reason: string };

const envelope = z.object({ op: z.string().max(16), id });

/** Classifies and validates one untrusted body. Never throws. */
export function parseMessage(body: unknown): Incoming {
  const head = envelope.safeParse(body);
  if (!head.success) return { kind: 'invalid', id: null, reason: 'not an anti-entropy message (op, id)' };
  const { op, id: msgId } = head.data;
  const b = body as Record<string, unknown>;
  if (op === 'r') return { kind: 'reply', id: msgId, body: b };
  if (op === 'e') return { kind: 'error', id: msgId, code: String(b.code ?? 'failed').slice(0, 32), msg: String(b.msg ?? '').slice(0, 200) };
  if (!Object.hasOwn(requests, op)) return { kind: 'invalid', id: msgId, reason: `unknown op ${op}` };
  const parsed = requests[op as RequestOp].safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { kind: 'invalid', id: msgId, reason: `bad ${op} at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`.slice(0, 200) };
  }
  return { kind: 'request', req: parsed.data as AeRequest };
}

/** Validates the reply to a request of kind `op`; null when malformed. */
export function parseReply<K extends RequestOp>(op: K, body: Record<string, unknown>): ReplyOf<K> | null {
  const parsed = replies[op].safeParse(body);
  return parsed.success ? (parsed.data as ReplyOf<K>) : null;
}
