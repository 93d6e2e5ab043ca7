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
 * whether more ARGV follow (`rest`: batches, journal fields, actions).
 */
export class LuaScript<const K extends string, const A extends string> {
  readonly numberOfKeys: number;
  readonly command: string;

  constructor(readonly file: string, readonly keys: readonly K[], readonly args: readonly A[], readonly rest: string | null = null) {
    this.numberOfKeys = Number(file.split('-')[1]);
    if (this.numberOfKeys !== keys.length) throw new Error(`script ${file}: ${keys.length} key names for ${this.numberOfKeys} KEYS`);
    if (new Set<string>([...keys, ...args]).size !== keys.length + args.length) throw new Error(`script ${file}: a KEYS or ARGV name is used twice`);
    this.command = `gg${SCRIPT_VERSION}_${file.split('-')[0]}`;
  }

  /** The script's source with its includes expanded. */
  source(): string {
    return expandIncludes(readFileSync(new URL(`${this.file}.lua`, LUA_DIR), 'utf8'), new Set());
  }

  define(redis: Redis): void {
    if ((redis as unknown as Record<string, unknown>)[this.command]) return;
    redis.defineCommand(this.command, { lua: this.source(), numberOfKeys: this.numberOfKeys });
  }

  /** Runs the script; replies as strings. */
  call(redis: Redis, keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptArg>>, rest: readonly ScriptArg[] = []): Promise<unknown> {
    return this.fn(redis, '').apply(redis, this.positional(keys, args, rest));
  }

  /** Runs the script; replies as Buffers (binary values intact). */
  callBuffer(redis: Redis, keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptArg>>, rest: readonly ScriptArg[] = []): Promise<unknown> {
    return this.fn(redis, 'Buffer').apply(redis, this.positional(keys, args, rest));
  }

  private positional(keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptArg>>, rest: readonly ScriptArg[]): ScriptArg[] {
    if (rest.length > 0 && this.rest === null) throw new Error(`script ${this.file} takes no ARGV after ${this.args.at(-1) ?? 'its keys'}`);
    const out: ScriptArg[] = new Array(this.keys.length + this.args.length + rest.length);
    let i = 0;
    for (const k of this.keys) out[i++] = keys[k];
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
  putRecord: new LuaScript('putRecord-11',
    ['record', 'log', 'seq', 'logBytes', 'hlc', 'digest', 'members', 'fence', 'identity', 'idempotency', 'idempotencyIndex'],
    ['region', 'nowMs', 'value', 'contentType', 'tombstone', 'ifMatch', 'ifNoneMatch', 'epoch', 'fenced', 'logMaxEntries',
      'logMaxBytes', 'keyspace', 'key', 'partition', 'bucket', 'counterFloor', 'storeId', 'leaseEndRedisMs', 'minSeq',
      'idempotencyKey', 'fingerprint', 'idempotencyTtlMs', 'idempotencyEntriesMax', 'op']),
  applyChanges: new LuaScript('applyChanges-3',
    ['applied', 'hlc', 'pendingIndex'],
    ['prefix', 'origin', 'incarnation', 'nowMs', 'idempotencyTtlMs', 'idempotencyEntriesMax', 'count'], 'the packed changes'),
  trimLog: new LuaScript('trimLog-3',
    ['log', 'logBytes', 'incarnation'],
    ['throughSeq', 'entriesMax', 'callerIncarnation']),
  resolveConflict: new LuaScript('resolveConflict-15',
    ['record', 'log', 'seq', 'logBytes', 'hlc', 'digest', 'members', 'pending', 'pendingIndex', 'journal', 'outbox',
      'partitionPending', 'fence', 'journalBytes', 'journalAcked'],
    ['region', 'nowMs', 'value', 'contentType', 'tombstone', 'expectedVersion', 'incomingVersion', 'resolvedVersion', 'winnerHlc',
      'epoch', 'logMaxEntries', 'logMaxBytes', 'keyspace', 'key', 'partition', 'bucket', 'journalMaxEntries',
      'journalMaxBytes', 'outboxMaxEntries', 'origin', 'fenced', 'fenceEpoch', 'leaseEndRedisMs', 'hlcFloor',
      'journalItems'], 'the journal field/value pairs, then the actions'),
  reofferPending: new LuaScript('reofferPending-4',
    ['pending', 'log', 'seq', 'logBytes'],
    ['nowMs', 'afterMs', 'logMaxEntries', 'logMaxBytes', 'keyspace', 'key']),
  trimConflicts: new LuaScript('trimConflicts-4',
    ['journal', 'journalBytes', 'journalAcked', 'deadLetters'],
    ['journalMaxEntries', 'journalMaxBytes', 'journalMaxAgeMs', 'deadLetterMaxEntries', 'deadLetterMaxAgeMs', 'roundEntriesMax']),
  collectTombstones: new LuaScript('collectTombstones-1',
    ['pendingIndex'],
    ['prefix', 'keyspace', 'count'], 'the versions, then the keys'),
  readMembers: new LuaScript('readMembers-0', [], ['entriesMax'], 'the member hash names'),
  readRecords: new LuaScript('readRecords-0', [], ['fieldCount'], 'the field names, then the record keys'),
} as const;

/** Registers every script on a connection (idempotent). */
export function defineScripts(redis: Redis): void {
  for (const s of Object.values(scripts)) s.define(redis);
}
