/**
 * The store side of anti-entropy: reads of bucket digests (packed, 8 bytes per bucket),
 * bucket members and full records in the store's layout, the version comparison apply
 * (through RegionStore), tombstone states, and its scripts (lua/collectTombstones-0.lua,
 * lua/readMembers-0.lua, lua/readRecords-0.lua; registered with the others in scripts.ts).
 * Implements `AeStore`.
 */
import type { Redis } from 'ioredis';
import { compareVv, vvFromString } from '../../conflict/vv.js';
import { hlcFromString } from '../../conflict/hlc.js';
import type { AeStore, TombstoneCandidate, WireRecord } from '../../replicator/anti-entropy/index.js';
import { TOMB_ABSENT, TOMB_HOLDS, TOMB_NEWER, TOMB_OTHER } from '../../replicator/anti-entropy/index.js';
import type { ApplyOutcome, ChangeRecord } from '../../replicator/types.js';
import type { RegionStore } from './region-store.js';
import { defineScripts, scripts } from './scripts.js';
import { type TombstoneItem, callGroups, collectTombstonesCall, readMembersItems, readRecordsItems } from './script-keys.js';

const RECORD_FIELDS = ['v', 'ct', 'vv', 'h', 'o', 'e', 't', 'p', 'b', 'x'] as const;
/** SCAN steps `startedEmpty` takes before assuming the store holds data. */
const EMPTY_CHECK_SCAN_STEPS = 64;
/** Bucket names per HMGET when re-reading some digests. */
const DIGEST_FIELDS_PER_READ = 4096;
const DIGEST_BYTES = 8;
const DIGEST_HEX_CHARS = 16;

/** A bucket field name (decimal digits) as a number; -1 when it is not one. */
function bucketOf(field: Buffer): number {
  if (field.length === 0 || field.length > 9) return -1;
  let b = 0;
  for (let i = 0; i < field.length; i++) {
    const d = field[i]! - 48;
    if (d < 0 || d > 9) return -1;
    b = b * 10 + d;
  }
  return b;
}

/** Hex digit value by character code (lowercase only, as the Lua writes them); -1 otherwise. */
const NIBBLE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;

/** Writes a 16-hex-digit digest as 8 bytes at `at`; leaves zeros when it is malformed. */
function decodeDigest(hex: Buffer, out: Buffer, at: number): void {
  if (hex.length !== DIGEST_HEX_CHARS) return;
  for (let i = 0; i < DIGEST_BYTES; i++) {
    const hi = NIBBLE[hex[2 * i]!]!;
    const lo = NIBBLE[hex[2 * i + 1]!]!;
    if ((hi | lo) < 0) { out.fill(0, at, at + DIGEST_BYTES); return; }
    out[at + i] = (hi << 4) | lo;
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export class MerkleStore implements AeStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(private readonly store: RegionStore) {
    this.redis = store.redis;
    this.prefix = store.keys.prefix;
    defineScripts(this.redis);
  }

  /**
   * True when this region's Redis holds no data of ours: no log incarnation yet and no
   * record. Call before the replicator starts (its handshake creates the incarnation).
   */
  async startedEmpty(): Promise<boolean> {
    if ((await this.redis.exists(this.store.keys.incarnation)) === 1) return false;
    let cursor = '0';
    for (let step = 0; step < EMPTY_CHECK_SCAN_STEPS; step++) {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${globEscape(this.prefix)}{*}r:*`, 'COUNT', 1000);
      if (keys.length > 0) return false;
      if (next === '0') return true;
      cursor = next;
    }
    return false;
  }

  /**
   * Every bucket digest of a partition, packed: 8 bytes per bucket in bucket order (missing
   * or malformed digests are zero). One HGETALL (at most `merkle.buckets` ≤ 65 536 fields;
   * HSCAN steps cost Redis about 2.5× the time for the same fields), decoded straight from
   * the reply buffers: no per-field strings or objects.
   */
  async leaves(keyspace: string, partition: number, buckets: number): Promise<Buffer> {
    const out = Buffer.alloc(buckets * DIGEST_BYTES);
    const flat = (await this.redis.callBuffer('HGETALL', this.store.keys.digest(keyspace, partition))) as Buffer[];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const b = bucketOf(flat[i]!);
      if (b >= 0 && b < buckets) decodeDigest(flat[i + 1]!, out, b * DIGEST_BYTES);
    }
    return out;
  }

  /** The digests of `buckets` of a partition, packed like `leaves`, in the order of `buckets`. */
  async leafDigests(keyspace: string, partition: number, buckets: readonly number[]): Promise<Buffer> {
    const out = Buffer.alloc(buckets.length * DIGEST_BYTES);
    if (buckets.length === 0) return out;
    const key = this.store.keys.digest(keyspace, partition);
    const cmds: [string, ...(string | number)[]][] = [];
    for (let i = 0; i < buckets.length; i += DIGEST_FIELDS_PER_READ) cmds.push(['hmgetBuffer', key, ...buckets.slice(i, i + DIGEST_FIELDS_PER_READ)]);
    const rows = (await this.redis.pipeline(cmds).exec()) ?? [];
    rows.forEach(([err, values], c) => {
      if (err) throw err;
      (values as (Buffer | null)[]).forEach((v, j) => { if (v) decodeDigest(v, out, (c * DIGEST_FIELDS_PER_READ + j) * DIGEST_BYTES); });
    });
    return out;
  }

  async scanMembers(keyspace: string, partition: number, bucket: number, cursor: string, count: number) {
    const [next, flat] = await this.redis.hscan(this.store.keys.members(keyspace, partition, bucket), cursor, 'COUNT', count);
    const keys: string[] = [];
    const versions: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) { keys.push(flat[i]!); versions.push(flat[i + 1]!); }
    return { cursor: next, keys, versions };
  }

  /** One script call (lua/readMembers-0.lua) for a prefix of `buckets`; see AeStore. */
  async bucketMembers(keyspace: string, partition: number, buckets: readonly number[], entriesMax: number): Promise<(Map<string, string> | null)[]> {
    if (buckets.length === 0) return [];
    const flat = (await scripts.readMembers.call(this.redis, {}, { entriesMax }, [], readMembersItems(this.store.keys, keyspace, partition, buckets))) as (string | number)[];
    const covered = Number(flat[0]);
    if (!Number.isInteger(covered) || covered < 1 || covered > buckets.length) throw new Error(`readMembers covered ${covered} of ${buckets.length} buckets`);
    const out: (Map<string, string> | null)[] = [];
    let at = 1;
    for (let i = 0; i < covered; i++) {
      const n = Number(flat[at++]);
      if (n < 0) { out.push(null); continue; }
      const m = new Map<string, string>();
      for (let j = 0; j < n; j++, at += 2) m.set(String(flat[at]), String(flat[at + 1]));
      out.push(m);
    }
    return out;
  }

  /** One script call (lua/readRecords-0.lua) per partition of `keys`. */
  async readRecords(keyspace: string, keys: readonly string[]): Promise<(WireRecord | null)[]> {
    if (keys.length === 0) return [];
    const k = this.store.keys;
    const w = RECORD_FIELDS.length;
    const byPartition = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const p = k.partition(keyspace, key);
      const at = byPartition.get(p);
      if (at) at.push(i); else byPartition.set(p, [i]);
    });
    const flat: (Buffer | null)[] = new Array(keys.length * w);
    for (const [p, at] of byPartition) {
      const part = (await scripts.readRecords.callBuffer(this.redis, {}, { fieldCount: w }, RECORD_FIELDS,
        readRecordsItems(k, keyspace, p, at.map((i) => keys[i]!)))) as (Buffer | null)[];
      if (part.length !== at.length * w) throw new Error(`readRecords returned ${part.length} fields for ${at.length} records`);
      at.forEach((i, j) => { for (let f = 0; f < w; f++) flat[i * w + f] = part[j * w + f] ?? null; });
    }
    return keys.map((key, i) => {
      const f = flat.slice(i * w, (i + 1) * w);
      if (!f[2]) return null;
      const s = (j: number) => f[j]?.toString() ?? '';
      const rec: WireRecord = [key, Number(s(7) || 0), Number(s(8) || 0), f[0] ?? Buffer.alloc(0), s(1), s(2), s(3), s(4), Number(s(5) || 0), s(6) === '1' ? 1 : 0];
      if (s(9) !== '') rec[10] = Number(s(9));
      return rec;
    });
  }

  applyVersions(records: readonly ChangeRecord[]): Promise<ApplyOutcome[]> {
    return this.store.applyVersions(records);
  }

  async tombstoneStates(keyspace: string, items: readonly (readonly [string, string])[]): Promise<number[]> {
    if (items.length === 0) return [];
    const cmds = items.flatMap(([key]) => [
      ['hmget', this.store.keys.record(keyspace, key), 'vv', 't'],
      ['sismember', this.store.keys.partitionPending(keyspace, this.store.keys.partition(keyspace, key)), key],
    ]);
    const rows = (await this.redis.pipeline(cmds).exec()) ?? [];
    return items.map(([, version], i) => {
      const [vv, t] = (rows[2 * i]?.[1] ?? [null, null]) as [string | null, string | null];
      const pending = Number(rows[2 * i + 1]?.[1] ?? 0) === 1;
      if (vv === null) return TOMB_ABSENT;
      if (pending) return TOMB_OTHER;
      if (vv === version && t === '1') return TOMB_HOLDS;
      return compareVv(vvFromString(vv) ?? {}, vvFromString(version) ?? {}) === 'after' ? TOMB_NEWER : TOMB_OTHER;
    });
  }

  async collectTombstones(keyspace: string, items: readonly TombstoneItem[]): Promise<number[]> {
    if (items.length === 0) return [];
    // split per partition, grouped into calls by who owns their slots (one call on one Redis);
    // the codes back in the order of `items`
    const out: number[] = new Array(items.length);
    const byPartition = new Map<number, number[]>();
    items.forEach((t, i) => {
      const at = byPartition.get(t[1]);
      if (at) at.push(i); else byPartition.set(t[1], [i]);
    });
    const parts = [...byPartition].map(([partition, at]) => ({ partition, at, items: at.map((i) => items[i]!) }));
    for (const groups of callGroups(parts, this.store.slotOwners)) {
      const call = collectTombstonesCall(this.store.keys, keyspace, groups);
      const codes = (await scripts.collectTombstones.call(this.redis, {}, { groupCount: call.groupCount }, call.rest, call.items)) as number[];
      let j = 0;
      for (const g of groups) for (const i of g.at) out[i] = codes[j++]!;
    }
    return out;
  }

  async scanTombstones(cursor: string, count: number, olderThanWallMs: number): Promise<{ cursor: string; items: TombstoneCandidate[] }> {
    const [next, names] = await this.redis.scan(cursor, 'MATCH', `${globEscape(this.prefix)}{*}r:*`, 'COUNT', count);
    if (names.length === 0) return { cursor: next, items: [] };
    const rows = (await this.redis.pipeline(names.map((n) => ['hmget', n, 't', 'vv', 'h', 'p', 'b'])).exec()) ?? [];
    const items: TombstoneCandidate[] = [];
    names.forEach((name, i) => {
      const [t, vv, h, p, b] = (rows[i]?.[1] ?? []) as (string | null)[];
      if (t !== '1' || !vv || !h) return;
      const wall = hlcFromString(h)?.[0] ?? Infinity;
      if (wall >= olderThanWallMs) return;
      // <prefix>{<keyspace>.<partition>}r:<key> (keys.ts): keyspace names hold no '.' nor '}'
      const rest = name.slice(this.prefix.length);
      const close = rest.indexOf('}');
      const dot = rest.indexOf('.');
      if (rest[0] !== '{' || dot <= 1 || close < dot || !rest.startsWith('r:', close + 1)) return;
      items.push({ keyspace: rest.slice(1, dot), key: rest.slice(close + 3), partition: Number(p), bucket: Number(b), version: vv });
    });
    return { cursor: next, items };
  }
}
