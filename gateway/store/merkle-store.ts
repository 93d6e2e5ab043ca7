/**
 * The store side of anti-entropy: reads of bucket digests, bucket members and full records
 * in the store's layout, the version comparison apply (through RegionStore), tombstone
 * states, and the tombstone collection script (lua/collectTombstones-1.lua, registered
 * here with `defineCommand`). Implements `AeStore`.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { compareVv, vvFromString } from '../../conflict/vv.js';
import { hlcFromString } from '../../conflict/hlc.js';
import type { AeStore, TombstoneCandidate, WireRecord } from '../../replicator/anti-entropy/index.js';
import { TOMB_ABSENT, TOMB_HOLDS, TOMB_NEWER, TOMB_OTHER } from '../../replicator/anti-entropy/index.js';
import type { ApplyOutcome, ChangeRecord } from '../../replicator/types.js';
import type { RegionStore } from './region-store.js';
import { SCRIPT_VERSION } from './scripts.js';

const LUA_DIR = new URL('./lua/', import.meta.url);
const COLLECT_SCRIPT = 'collectTombstones-1';
const COLLECT_COMMAND = `gg${SCRIPT_VERSION}_collectTombstones`;
const RECORD_FIELDS = ['v', 'ct', 'vv', 'h', 'o', 'e', 't', 'p', 'b'] as const;
/** SCAN steps `startedEmpty` takes before assuming the store holds data. */
const EMPTY_CHECK_SCAN_STEPS = 64;

function loadLua(file: string): string {
  const seen = new Set<string>();
  const expand = (src: string): string => src.replace(/^--- @include "([a-z-]+)"$/gm, (_l, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expand(readFileSync(new URL(`includes/${name}.lua`, LUA_DIR), 'utf8'));
  });
  return expand(readFileSync(new URL(`${file}.lua`, LUA_DIR), 'utf8'));
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
    if (!(this.redis as unknown as Record<string, unknown>)[COLLECT_COMMAND]) {
      this.redis.defineCommand(COLLECT_COMMAND, { lua: loadLua(COLLECT_SCRIPT), numberOfKeys: 1 });
    }
  }

  /**
   * True when this region's Redis holds no data of ours: no log incarnation yet and no
   * record. Call before the replicator starts (its handshake creates the incarnation).
   */
  async startedEmpty(): Promise<boolean> {
    if ((await this.redis.exists(this.store.keys.incarnation)) === 1) return false;
    let cursor = '0';
    for (let step = 0; step < EMPTY_CHECK_SCAN_STEPS; step++) {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${globEscape(this.prefix)}r:*`, 'COUNT', 1000);
      if (keys.length > 0) return false;
      if (next === '0') return true;
      cursor = next;
    }
    return false;
  }

  digests(keyspace: string, partition: number): Promise<Record<string, string>> {
    return this.redis.hgetall(this.store.keys.digest(keyspace, partition));
  }

  async scanMembers(keyspace: string, partition: number, bucket: number, cursor: string, count: number) {
    const [next, flat] = await this.redis.hscan(this.store.keys.members(keyspace, partition, bucket), cursor, 'COUNT', count);
    const keys: string[] = [];
    const versions: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) { keys.push(flat[i]!); versions.push(flat[i + 1]!); }
    return { cursor: next, keys, versions };
  }

  async bucketMembers(keyspace: string, partition: number, buckets: readonly number[], entriesMax: number): Promise<(Map<string, string> | null)[]> {
    const names = buckets.map((b) => this.store.keys.members(keyspace, partition, b));
    const lens = await this.redis.pipeline(names.map((n) => ['hlen', n])).exec();
    const small = names.map((_, i) => Number(lens?.[i]?.[1] ?? 0) <= entriesMax);
    const wanted = names.filter((_, i) => small[i] && Number(lens?.[i]?.[1] ?? 0) > 0);
    const rows = wanted.length > 0 ? await this.redis.pipeline(wanted.map((n) => ['hgetall', n])).exec() : [];
    let j = 0;
    return names.map((_, i) => {
      if (!small[i]) return null;
      if (Number(lens?.[i]?.[1] ?? 0) === 0) return new Map();
      const [err, obj] = rows?.[j++] ?? [null, {}];
      if (err) throw err;
      return new Map(Object.entries(obj as Record<string, string>));
    });
  }

  async readRecords(keyspace: string, keys: readonly string[]): Promise<(WireRecord | null)[]> {
    if (keys.length === 0) return [];
    const rows = await this.redis.pipeline(keys.map((k) => ['hmgetBuffer', this.store.keys.record(keyspace, k), ...RECORD_FIELDS])).exec();
    return keys.map((key, i) => {
      const [err, raw] = rows?.[i] ?? [null, null];
      if (err) throw err;
      const f = raw as (Buffer | null)[];
      if (!f?.[2]) return null;
      const s = (j: number) => f[j]?.toString() ?? '';
      return [key, Number(s(7) || 0), Number(s(8) || 0), f[0] ?? Buffer.alloc(0), s(1), s(2), s(3), s(4), Number(s(5) || 0), s(6) === '1' ? 1 : 0] satisfies WireRecord;
    });
  }

  applyVersions(records: readonly ChangeRecord[]): Promise<ApplyOutcome[]> {
    return this.store.applyVersions(records);
  }

  async tombstoneStates(keyspace: string, items: readonly (readonly [string, string])[]): Promise<number[]> {
    if (items.length === 0) return [];
    const cmds = items.flatMap(([key]) => [
      ['hmget', this.store.keys.record(keyspace, key), 'vv', 't'],
      ['sismember', this.store.keys.pendingIndex, `${keyspace}\0${key}`],
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

  async collectTombstones(keyspace: string, items: readonly (readonly [string, number, number, string])[]): Promise<number[]> {
    if (items.length === 0) return [];
    const fn = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<number[]>>)[COLLECT_COMMAND]!;
    return fn.call(this.redis, this.store.keys.pendingIndex, this.prefix, keyspace, items.length,
      ...items.map((t) => t[3]), ...items.map((t) => t[0]));
  }

  async scanTombstones(cursor: string, count: number, olderThanWallMs: number): Promise<{ cursor: string; items: TombstoneCandidate[] }> {
    const recPrefix = `${this.prefix}r:`;
    const [next, names] = await this.redis.scan(cursor, 'MATCH', `${globEscape(recPrefix)}*`, 'COUNT', count);
    if (names.length === 0) return { cursor: next, items: [] };
    const rows = (await this.redis.pipeline(names.map((n) => ['hmget', n, 't', 'vv', 'h', 'p', 'b'])).exec()) ?? [];
    const items: TombstoneCandidate[] = [];
    names.forEach((name, i) => {
      const [t, vv, h, p, b] = (rows[i]?.[1] ?? []) as (string | null)[];
      if (t !== '1' || !vv || !h) return;
      const wall = hlcFromString(h)?.[0] ?? Infinity;
      if (wall >= olderThanWallMs) return;
      const rest = name.slice(recPrefix.length);
      const colon = rest.indexOf(':');
      if (colon <= 0) return;
      items.push({ keyspace: rest.slice(0, colon), key: rest.slice(colon + 1), partition: Number(p), bucket: Number(b), version: vv });
    });
    return { cursor: next, items };
  }
}
