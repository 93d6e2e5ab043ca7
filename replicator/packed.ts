/**
 * The packed change: one replication-log entry as ONE binary string, the same bytes in the
 * region's Redis log, on the wire and in the apply script's arguments. The store's Lua
 * builds it when it appends to the log (`struct.pack`) and takes it apart when it applies a
 * peer's batch (`struct.unpack`); the sender ships it without decoding it; the receiver
 * only validates it. Nothing on the log-shipping path turns a change into objects and back.
 *
 * Layout: 12 fields, each a u32 big-endian byte length followed by the bytes, in this order
 * (Lua format `PACKED_FORMAT` in lua/includes/log.lua):
 *
 *   1 seq (decimal)   2 keyspace   3 key   4 partition (decimal)   5 bucket (decimal)
 *   6 value   7 content type   8 version vector (canonical text, `conflict/vv.ts`)
 *   9 HLC ("wall.logical")   10 origin region   11 epoch (decimal)   12 tombstone ("1" | "0")
 *
 * A write that carried an Idempotency-Key has three more fields, the idempotency trailer:
 *
 *   13 the Idempotency-Key (1-128 printable ASCII)   14 the request's fingerprint (64 lowercase
 *   hex, sha256)   15 created ("1" | "0")
 *
 * so the regions that apply it remember its outcome (applyChanges-5.lua). A change without a
 * key keeps the 12 fields: entries logged before the trailer existed read the same.
 *
 * A version that expires has one more field after those (the expiry trailer):
 *
 *   last: the absolute expiry, wall ms (decimal)
 *
 * so a change has 12, 13 (expiry), 15 (idempotency) or 16 (both) fields; the count tells
 * which, since every field is length-prefixed. A peer older than a trailer refuses such a
 * change (trailing bytes): the link protocol version (codec.ts PROTOCOL_VERSION 4: the expiry
 * trailer) keeps the two from linking at all.
 *
 * A peer's bytes are untrusted: `checkPacked` applies the config's name rules and the
 * channel's bounds (keys up to 64 Ki characters, canonical version vectors, …) before
 * anything reaches Redis.
 */
import { isUtf8 } from 'node:buffer';
import type { RecordVersion } from '../conflict/types.js';
import { vvFromString, vvToString } from '../conflict/vv.js';
import type { ChangeRecord } from './types.js';

export const PACKED_FIELDS = 12;
/** Fields of the idempotency trailer (13-15). */
export const PACKED_IDEMPOTENCY_FIELDS = 3;
export const IDEMPOTENCY_KEY_CHARS_MAX = 128;
export const FINGERPRINT_CHARS = 64;
/** Fields of the expiry trailer (the last one). */
export const PACKED_EXPIRY_FIELDS = 1;
const FIELDS_MAX = PACKED_FIELDS + PACKED_IDEMPOTENCY_FIELDS + PACKED_EXPIRY_FIELDS;
const LEN_BYTES = 4;
/** The config's rules for names (gateway/config.ts): nothing else can be a region or keyspace. */
const REGION_CHARS_MAX = 32;
const KEYSPACE_CHARS_MAX = 64;
const KEY_CHARS_MAX = 64 * 1024;
const CONTENT_TYPE_CHARS_MAX = 256;
const DECIMAL_DIGITS_MAX = 16;
/** A version vector names at most this many regions (the config's `cluster.regions` bound). */
const VV_REGIONS_MAX = 16;
const VV_BYTES_MAX = VV_REGIONS_MAX * (REGION_CHARS_MAX + 1 + DECIMAL_DIGITS_MAX) + VV_REGIONS_MAX - 1;
/**
 * Largest packed change minus its key and value: the length prefixes and every other field
 * at its bound (content type up to 4 UTF-8 bytes a character). With the key and value bounds
 * it tells whether the largest record fits in a frame (gateway/config.ts).
 */
export const PACKED_METADATA_BYTES_MAX = PACKED_FIELDS * LEN_BYTES
  + 4 * DECIMAL_DIGITS_MAX // seq, partition, bucket, epoch
  + KEYSPACE_CHARS_MAX + CONTENT_TYPE_CHARS_MAX * 4 + VV_BYTES_MAX
  + 2 * DECIMAL_DIGITS_MAX + 1 // hlc
  + REGION_CHARS_MAX + 1 // origin, tombstone
  + PACKED_IDEMPOTENCY_FIELDS * LEN_BYTES + IDEMPOTENCY_KEY_CHARS_MAX + FINGERPRINT_CHARS + 1 // the idempotency trailer
  + PACKED_EXPIRY_FIELDS * LEN_BYTES + DECIMAL_DIGITS_MAX; // the expiry trailer

/** One log entry as it travels: its seq (also inside the bytes) and the packed change. */
export interface LogEntry {
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** The idempotency trailer of a change: the key, the request's fingerprint, whether the write created the record. */
export interface PackedIdempotency {
  readonly key: string;
  readonly fingerprint: string;
  readonly created: boolean;
}

/** Packs a change (for the in-memory log, anti-entropy and tests; the store's Lua packs its own). */
export function packChange(c: ChangeRecord, idempotency?: PackedIdempotency): Buffer {
  const r = c.record;
  const fields: (string | Uint8Array)[] = [
    String(c.seq), c.keyspace, c.key, String(c.partition), String(c.bucket), r.value, r.contentType,
    vvToString(r.vv), `${r.hlc[0]}.${r.hlc[1]}`, r.origin, String(r.epoch), r.tombstone ? '1' : '0',
  ];
  if (idempotency) fields.push(idempotency.key, idempotency.fingerprint, idempotency.created ? '1' : '0');
  if (r.expiresAtMs !== undefined) fields.push(String(r.expiresAtMs));
  const parts = fields.map((f) => (typeof f === 'string' ? Buffer.from(f, 'utf8') : Buffer.from(f.buffer, f.byteOffset, f.byteLength)));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + LEN_BYTES + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32BE(p.byteLength, at);
    p.copy(out, at + LEN_BYTES);
    at += LEN_BYTES + p.byteLength;
  }
  return out;
}

export function packEntry(c: ChangeRecord): LogEntry {
  return { seq: c.seq, bytes: packChange(c) };
}

/** A log entry of a write that carried an Idempotency-Key (the trailer). */
export function packIdempotentEntry(c: ChangeRecord, idempotency: PackedIdempotency): LogEntry {
  return { seq: c.seq, bytes: packChange(c, idempotency) };
}

/**
 * The bound of `LogSource.read`: the first of `entries`, at most `maxRecords` of them and
 * `maxBytes` packed bytes — always at least one when any is there. Takes `entries` lazily.
 */
export function takeWithin(entries: Iterable<LogEntry>, maxRecords: number, maxBytes: number): LogEntry[] {
  const out: LogEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (out.length >= maxRecords) break;
    bytes += entry.bytes.byteLength;
    if (out.length > 0 && bytes > maxBytes) break;
    out.push(entry);
  }
  return out;
}

/**
 * Field boundaries of a packed change: [start, end) byte offsets, 12, 13, 15 or 16 fields
 * (the trailers: 13 = expiry, 15 = idempotency, 16 = both), or a problem.
 */
function split(bytes: Uint8Array): number[] | string {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bounds: number[] = [];
  let at = 0;
  for (let i = 0; i < FIELDS_MAX; i++) {
    if (i >= PACKED_FIELDS && at === view.byteLength) break; // no (more) trailer
    if (i >= PACKED_FIELDS && view.byteLength - at < LEN_BYTES) return `${view.byteLength - at} trailing bytes`;
    if (at + LEN_BYTES > view.byteLength) return `field ${i + 1}: truncated length`;
    const len = view.readUInt32BE(at);
    const start = at + LEN_BYTES;
    if (start + len > view.byteLength) return `field ${i + 1}: ${len} bytes announced, ${view.byteLength - start} left`;
    bounds[2 * i] = start;
    bounds[2 * i + 1] = start + len;
    at = start + len;
  }
  if (at !== view.byteLength) return `${view.byteLength - at} trailing bytes`;
  const fields = bounds.length / 2;
  if (fields === PACKED_FIELDS + 2) return `${fields} fields (12, 13, 15 or 16)`;
  return bounds;
}

/** Field index of the idempotency trailer's first field, or -1 without one. */
function idempotencyAt(b: readonly number[]): number {
  return b.length / 2 >= PACKED_FIELDS + PACKED_IDEMPOTENCY_FIELDS ? PACKED_FIELDS : -1;
}

/** Field index of the expiry trailer, or -1 without one. */
function expiryAt(b: readonly number[]): number {
  const fields = b.length / 2;
  return fields === PACKED_FIELDS + 1 || fields === FIELDS_MAX ? fields - 1 : -1;
}

function text(bytes: Uint8Array, b: number[], field: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', b[2 * field]!, b[2 * field + 1]!);
}

/*
 * The checks below read bytes, not strings: they run for every record a peer sends.
 */
const C0 = 0x30, C9 = 0x39, CA = 0x61, CZ = 0x7a, DASH = 0x2d, UNDERSCORE = 0x5f, COLON = 0x3a, COMMA = 0x2c, DOT = 0x2e;

/** A decimal without sign or leading zeros, at most 16 digits and safe: its value, else -1. */
function decimalAt(v: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len <= 0 || len > DECIMAL_DIGITS_MAX || (len > 1 && v[start] === C0)) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = v[i]!;
    if (c < C0 || c > C9) return -1;
    n = n * 10 + (c - C0);
  }
  return Number.isSafeInteger(n) ? n : -1;
}

/** `[a-z][a-z0-9-]{0,max-1}` (region names) or, with `underscore`, `[a-z][a-z0-9_-]…` (keyspaces). */
function nameAt(v: Uint8Array, start: number, end: number, max: number, underscore: boolean): boolean {
  if (end <= start || end - start > max || v[start]! < CA || v[start]! > CZ) return false;
  for (let i = start + 1; i < end; i++) {
    const c = v[i]!;
    if (!((c >= CA && c <= CZ) || (c >= C0 && c <= C9) || c === DASH || (underscore && c === UNDERSCORE))) return false;
  }
  return true;
}

/** Canonical version-vector text: `region:n` (n >= 1) joined by `,`, regions strictly ascending. */
function canonicalVvAt(v: Uint8Array, start: number, end: number): boolean {
  let prevStart = -1, prevEnd = -1;
  let at = start;
  if (at >= end) return false;
  while (at < end) {
    let colon = at;
    while (colon < end && v[colon] !== COLON) colon++;
    let stop = colon + 1;
    while (stop < end && v[stop] !== COMMA) stop++;
    if (colon >= end || !nameAt(v, at, colon, REGION_CHARS_MAX, false) || decimalAt(v, colon + 1, stop) < 1) return false;
    if (prevStart >= 0 && Buffer.compare(v.subarray(prevStart, prevEnd), v.subarray(at, colon)) >= 0) return false;
    prevStart = at;
    prevEnd = colon;
    at = stop + 1;
    if (stop < end && at >= end) return false; // trailing comma
  }
  return true;
}

/**
 * Validates an untrusted packed change; returns its seq, or the problem (field named).
 * The version vector must be canonical (the store compares version texts for equality).
 */
export function checkPacked(bytes: Uint8Array): number | string {
  const b = split(bytes);
  if (typeof b === 'string') return b;
  const v = bytes;
  const seq = decimalAt(v, b[0]!, b[1]!);
  if (seq < 1) return 'seq: not a positive integer';
  if (!nameAt(v, b[2]!, b[3]!, KEYSPACE_CHARS_MAX, true)) return 'keyspace: not a keyspace name';
  const keyBytes = b[5]! - b[4]!;
  if (!isUtf8(v.subarray(b[4]!, b[5]!))) return 'key: not UTF-8';
  if (keyBytes > KEY_CHARS_MAX && text(bytes, b, 2).length > KEY_CHARS_MAX) return 'key: over 64 Ki characters';
  if (decimalAt(v, b[6]!, b[7]!) < 0) return 'partition: not a non-negative integer';
  if (decimalAt(v, b[8]!, b[9]!) < 0) return 'bucket: not a non-negative integer';
  if (!isUtf8(v.subarray(b[12]!, b[13]!))) return 'contentType: not UTF-8';
  if (b[13]! - b[12]! > CONTENT_TYPE_CHARS_MAX && text(bytes, b, 6).length > CONTENT_TYPE_CHARS_MAX) return 'contentType: over 256 characters';
  if (!canonicalVvAt(v, b[14]!, b[15]!)) return 'vv: not a canonical version vector';
  let dot = b[16]!;
  while (dot < b[17]! && v[dot] !== DOT) dot++;
  if (dot >= b[17]! || decimalAt(v, b[16]!, dot) < 0 || decimalAt(v, dot + 1, b[17]!) < 0) return 'hlc: not wall.logical';
  if (!nameAt(v, b[18]!, b[19]!, REGION_CHARS_MAX, false)) return 'origin: not a region name';
  if (decimalAt(v, b[20]!, b[21]!) < 0) return 'epoch: not a non-negative integer';
  if (b[23]! - b[22]! !== 1 || (v[b[22]!] !== C0 && v[b[22]!] !== C0 + 1)) return 'tombstone: not 0 or 1';
  const x = expiryAt(b);
  if (x >= 0 && decimalAt(v, b[2 * x]!, b[2 * x + 1]!) < 1) return 'expiresAtMs: not a positive integer';
  if (idempotencyAt(b) >= 0) {
    const keyLen = b[25]! - b[24]!;
    if (keyLen < 1 || keyLen > IDEMPOTENCY_KEY_CHARS_MAX) return `idempotencyKey: not 1-${IDEMPOTENCY_KEY_CHARS_MAX} characters`;
    for (let i = b[24]!; i < b[25]!; i++) if (v[i]! < 0x21 || v[i]! > 0x7e) return 'idempotencyKey: not printable ASCII';
    if (b[27]! - b[26]! !== FINGERPRINT_CHARS) return `fingerprint: not ${FINGERPRINT_CHARS} hex digits`;
    for (let i = b[26]!; i < b[27]!; i++) if (!((v[i]! >= C0 && v[i]! <= C9) || (v[i]! >= CA && v[i]! <= 0x66))) return 'fingerprint: not lowercase hex';
    if (b[29]! - b[28]! !== 1 || (v[b[28]!] !== C0 && v[b[28]!] !== C0 + 1)) return 'created: not 0 or 1';
  }
  return seq;
}

/** The fields a receiver checks against its own placement and bounds (record-check.ts). */
export interface PackedFields {
  readonly seq: number;
  readonly keyspace: string;
  /** The key's UTF-8 bytes (a view into the change, not a copy). */
  readonly key: Uint8Array;
  readonly partition: number;
  readonly bucket: number;
  readonly valueBytes: number;
  readonly hlcWallMs: number;
  readonly origin: string;
  readonly epoch: number;
  /** The expiry trailer's absolute expiry (wall ms); 0: none. */
  readonly expiresAtMs: number;
  /** Byte lengths of the idempotency trailer's key and fingerprint (0: no trailer). */
  readonly idempotencyKeyBytes: number;
  readonly fingerprintBytes: number;
}

/** Reads those fields of a change `checkPacked` accepted (throws on bytes it rejects). */
export function readPackedFields(bytes: Uint8Array): PackedFields {
  const b = split(bytes);
  if (typeof b === 'string') throw new Error(`bad packed change: ${b}`);
  const v = bytes;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let dot = b[16]!;
  while (dot < b[17]! && v[dot] !== DOT) dot++;
  return { // names are ASCII (checkPacked checked them): latin1 decodes them fastest
    seq: decimalAt(v, b[0]!, b[1]!), keyspace: view.toString('latin1', b[2]!, b[3]!), key: v.subarray(b[4]!, b[5]!),
    partition: decimalAt(v, b[6]!, b[7]!), bucket: decimalAt(v, b[8]!, b[9]!), valueBytes: b[11]! - b[10]!,
    hlcWallMs: decimalAt(v, b[16]!, dot), origin: view.toString('latin1', b[18]!, b[19]!), epoch: decimalAt(v, b[20]!, b[21]!),
    expiresAtMs: expiryAt(b) >= 0 ? decimalAt(v, b[2 * expiryAt(b)]!, b[2 * expiryAt(b) + 1]!) : 0,
    idempotencyKeyBytes: idempotencyAt(b) >= 0 ? b[25]! - b[24]! : 0,
    fingerprintBytes: idempotencyAt(b) >= 0 ? b[27]! - b[26]! : 0,
  };
}

/** The idempotency trailer of a change `checkPacked` accepted; undefined without one. */
export function unpackIdempotency(bytes: Uint8Array): PackedIdempotency | undefined {
  const b = split(bytes);
  if (typeof b === 'string') throw new Error(`bad packed change: ${b}`);
  if (idempotencyAt(b) < 0) return undefined;
  return { key: text(bytes, b, 12), fingerprint: text(bytes, b, 13), created: text(bytes, b, 14) === '1' };
}

/** Unpacks a change; throws on bytes that `checkPacked` rejects. */
export function unpackChange(bytes: Uint8Array): ChangeRecord {
  const problem = checkPacked(bytes);
  if (typeof problem === 'string') throw new Error(`bad packed change: ${problem}`);
  const b = split(bytes) as number[];
  const s = (field: number) => text(bytes, b, field);
  const [wall, logical] = s(8).split('.').map(Number) as [number, number];
  const record: RecordVersion = {
    value: Buffer.from(bytes.subarray(b[10]!, b[11]!)), // a copy: never aliases the frame
    contentType: s(6),
    vv: vvFromString(s(7)) ?? {},
    hlc: [wall, logical],
    origin: s(9),
    epoch: Number(s(10)),
    tombstone: s(11) === '1',
    ...(expiryAt(b) >= 0 && { expiresAtMs: Number(s(expiryAt(b))) }),
  };
  return { seq: problem, keyspace: s(1), key: s(2), partition: Number(s(3)), bucket: Number(s(4)), record };
}
