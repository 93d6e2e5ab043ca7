/**
 * Every Lua script of the store, registered in one place: one file each
 * (`verbNoun-<numKeys>.lua`, contract comment first; `--- @include "name"` expanded from
 * lua/includes/), and one typed wrapper each that names its KEYS and ARGV. A call passes
 * objects (`{ record, log, ... }`, `{ region, nowMs, ... }`): a missing or misspelt name is a
 * compile error, and the positional order lives only here, beside the script's contract
 * (scripts.test.ts checks the two agree). ioredis `defineCommand` registers them under a
 * versioned name and sends EVALSHA, falling back to EVAL on NOSCRIPT, so a restarted,
 * empty Redis gets the scripts again without anything done here.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export const SCRIPT_VERSION = 1;
const LUA_DIR = new URL('./lua/', import.meta.url);

export type ScriptArg = string | number | Buffer;

function expandIncludes(source: string, seen: Set<string>): string {
  return source.replace(/^--- @include "([a-z-]+)"$/gm, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expandIncludes(readFileSync(new URL(`includes/${name}.lua`, LUA_DIR), 'utf8'), seen);
  });
}

type ScriptFn = (...a: ScriptArg[]) => Promise<unknown>;

/**
 * One Lua script: its file, the names of its KEYS and of its fixed ARGV in order, and
 * whether more ARGV follow (`rest`: batches, journal fields, actions). A batch script also
 * takes `itemKeys`: after its fixed KEYS, these keys once per item (a record, its bucket's
 * members, ...), so every key it touches is declared in KEYS (none built inside Lua: Redis
 * Cluster routes by KEYS). A script over groups of partitions also takes `groupKeys`: per
 * group, these keys of its partition, then its items' keys (the group's sizes travel in ARGV
 * and the script checks the layout). Its file is named by its fixed KEYS count.
 */
export class LuaScript<const K extends string, const A extends string> {
  readonly numberOfKeys: number;
  readonly command: string;

  constructor(readonly file: string, readonly keys: readonly K[], readonly args: readonly A[], readonly rest: string | null = null,
    readonly itemKeys: readonly string[] = [], readonly groupKeys: readonly string[] = []) {
    this.numberOfKeys = Number(file.split('-')[1]);
    if (this.numberOfKeys !== keys.length) throw new Error(`script ${file}: ${keys.length} key names for ${this.numberOfKeys} KEYS`);
    const names = [...keys, ...args, ...itemKeys, ...groupKeys];
    if (new Set<string>(names).size !== names.length) throw new Error(`script ${file}: a KEYS or ARGV name is used twice`);
    if (groupKeys.length > 0 && itemKeys.length === 0) throw new Error(`script ${file}: group keys without item keys`);
    this.command = `gg${SCRIPT_VERSION}_${file.split('-')[0]}`;
  }

  /** The script's source with its includes expanded. */
  source(): string {
    return expandIncludes(readFileSync(new URL(`${this.file}.lua`, LUA_DIR), 'utf8'), new Set());
  }

  define(redis: Redis): void {
    if ((redis as unknown as Record<string, unknown>)[this.command]) return;
    // with item keys the count of KEYS comes first in each call (ioredis: no numberOfKeys)
    redis.defineCommand(this.command, this.itemKeys.length > 0 ? { lua: this.source() } : { lua: this.source(), numberOfKeys: this.numberOfKeys });
  }

  /**
   * Every KEYS of one call in order: the fixed ones, then `items` (already flattened, one
   * group of `itemKeys` per item). What the structural test checks for one slot.
   */
  keyList(keys: Readonly<Record<K, string>>, items: readonly string[] = []): string[] {
    if (items.length > 0 && (this.itemKeys.length === 0 || (this.groupKeys.length === 0 && items.length % this.itemKeys.length !== 0))) {
      throw new Error(`script ${this.file}: ${items.length} item keys, not a multiple of ${this.itemKeys.length}`);
    }
    return [...this.keys.map((k) => keys[k]), ...items];
  }

  /** Runs the script; replies as strings. */
  call(redis: Redis, keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptArg>>, rest: readonly ScriptArg[] = [], items: readonly string[] = []): Promise<unknown> {
    return this.fn(redis, '').apply(redis, this.positional(keys, args, rest, items));
  }

  /** Runs the script; replies as Buffers (binary values intact). */
  callBuffer(redis: Redis, keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptArg>>, rest: readonly ScriptArg[] = [], items: readonly string[] = []): Promise<unknown> {
    return this.fn(redis, 'Buffer').apply(redis, this.positional(keys, args, rest, items));
  }

  private positional(keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptArg>>, rest: readonly ScriptArg[], items: readonly string[]): ScriptArg[] {
    if (rest.length > 0 && this.rest === null) throw new Error(`script ${this.file} takes no ARGV after ${this.args.at(-1) ?? 'its keys'}`);
    const all = this.keyList(keys, items);
    const counted = this.itemKeys.length > 0;
    const out: ScriptArg[] = new Array((counted ? 1 : 0) + all.length + this.args.length + rest.length);
    let i = 0;
    if (counted) out[i++] = all.length;
    for (const k of all) out[i++] = k;
    for (const a of this.args) out[i++] = args[a];
    for (const r of rest) out[i++] = r;
    return out;
  }

  private fn(redis: Redis, suffix: '' | 'Buffer'): ScriptFn {
    const fn = (redis as unknown as Record<string, ScriptFn | undefined>)[`${this.command}${suffix}`];
    if (!fn) throw new Error(`script ${this.file} not defined on this connection`);
    return fn;
  }
}

/** The store's scripts (the order of each list is the script's KEYS / ARGV order). */
export const scripts = {
  putRecord: new LuaScript('putRecord-12',
    ['record', 'log', 'seq', 'logBytes', 'hlc', 'digest', 'members', 'fence', 'identity', 'idempotency', 'idempotencyIndex', 'expiryIndex'],
    ['region', 'nowMs', 'value', 'contentType', 'tombstone', 'ifMatch', 'ifNoneMatch', 'epoch', 'fenced', 'logMaxEntries',
      'logMaxBytes', 'keyspace', 'key', 'partition', 'bucket', 'counterFloor', 'storeId', 'leaseEndRedisMs', 'minSeq',
      'idempotencyKey', 'fingerprint', 'idempotencyTtlMs', 'idempotencyEntriesMax', 'op', 'ttlMs']),
  applyChanges: new LuaScript('applyChanges-5',
    ['pendingIndex', 'idempotencyIndex', 'idempotencyUnremembered', 'coordinator', 'applied'],
    ['origin', 'incarnation', 'nowMs', 'idempotencyTtlMs', 'idempotencyEntriesMax', 'coordinatorToken', 'groupCount', 'raiseToSeq'],
    'per group: its change count, its packed changes',
    ['record', 'members', 'pending', 'idempotency'], ['partitionApplied', 'hlc', 'partitionPending', 'digest', 'expiryIndex']),
  trimLog: new LuaScript('trimLog-4',
    ['log', 'logBytes', 'incarnation', 'coordinator'],
    ['throughSeq', 'entriesMax', 'callerIncarnation', 'coordinatorToken']),
  resolveConflict: new LuaScript('resolveConflict-17',
    ['record', 'log', 'seq', 'logBytes', 'hlc', 'digest', 'members', 'pending', 'pendingIndex', 'journal', 'outbox',
      'partitionPending', 'fence', 'journalBytes', 'journalAcked', 'expiryIndex', 'coordinator'],
    ['region', 'nowMs', 'value', 'contentType', 'tombstone', 'expectedVersion', 'incomingVersion', 'resolvedVersion', 'winnerHlc',
      'epoch', 'logMaxEntries', 'logMaxBytes', 'keyspace', 'key', 'partition', 'bucket', 'journalMaxEntries',
      'journalMaxBytes', 'outboxMaxEntries', 'origin', 'fenced', 'fenceEpoch', 'leaseEndRedisMs', 'hlcFloor',
      'expiresAtMs', 'coordinatorToken', 'minSeq', 'journalItems'], 'the journal field/value pairs, then the actions'),
  reofferPending: new LuaScript('reofferPending-5',
    ['pending', 'log', 'seq', 'logBytes', 'coordinator'],
    ['nowMs', 'afterMs', 'logMaxEntries', 'logMaxBytes', 'keyspace', 'key', 'coordinatorToken', 'minSeq']),
  trimConflicts: new LuaScript('trimConflicts-5',
    ['journal', 'journalBytes', 'journalAcked', 'deadLetters', 'coordinator'],
    ['journalMaxEntries', 'journalMaxBytes', 'journalMaxAgeMs', 'deadLetterMaxEntries', 'deadLetterMaxAgeMs', 'roundEntriesMax', 'coordinatorToken']),
  collectTombstones: new LuaScript('collectTombstones-0', [],
    ['groupCount'], 'per group: its item count, its versions, its keys', ['record', 'members'], ['partitionPending', 'digest']),
  readMembers: new LuaScript('readMembers-0', [], ['entriesMax'], null, ['members']),
  readRecords: new LuaScript('readRecords-0', [], ['fieldCount'], 'the field names', ['record']),
  raiseApplied: new LuaScript('raiseApplied-1', ['applied'], ['field', 'seq']),
  claimCoordinator: new LuaScript('claimCoordinator-3', ['lease', 'tokens', 'instances'], ['instanceId', 'leaseMs', 'url', 'mode', 'forgetMs', 'instancesMax', 'seenToken']),
  coordinatorWrite: new LuaScript('coordinatorWrite-2', ['target', 'coordinator'], ['coordinatorToken', 'op', 'value', 'extra']),
  setFences: new LuaScript('setFences-1', ['coordinator'], ['coordinatorToken'], 'per fence: its value ("epoch:endMs"), or \'\' to remove it', ['fence']),
  publishBoard: new LuaScript('publishBoard-4', ['board', 'boardParts', 'boardChanges', 'coordinator'],
    ['coordinatorToken', 'validMs', 'boardId', 'expectedVersion', 'headCount', 'partCount', 'changesMax', 'changeFieldsMax', 'expectedPublication'], 'the head\'s, then the entries\' changed field/value pairs'),
  readBoard: new LuaScript('readBoard-4', ['board', 'boardParts', 'boardChanges', 'incarnation'], ['boardId', 'version', 'fieldsMax']),
  withdrawBoard: new LuaScript('withdrawBoard-4', ['board', 'boardParts', 'boardChanges', 'coordinator'], ['instanceId']),
} as const;

/** Registers every script on a connection (idempotent). */
export function defineScripts(redis: Redis): void {
  for (const s of Object.values(scripts)) s.define(redis);
}
