/**
 * Serves a peer's anti-entropy requests from this region's store: tree levels (from a
 * short-lived per-session cache of the partition's tree: read once per session, later
 * rounds re-read only the buckets this region applied `need` keys to), key lists of buckets, full
 * records, `need` (pull from the asking peer), tombstone checks and collection. At most
 * `servingPerPeerMax` requests of one peer are served at a time (more are answered
 * `busy`); every reply is bounded in entries and bytes.
 */
import type { AeRequest, ErrorCode, RequestOf, WireRecord } from './messages.js';
import type { AeContext } from './session.js';
import { localTree } from './session.js';
import { treeShape, levelWidth, roundSalt, toWire, type MerkleTree, type TreeShape } from './tree.js';
import { AntiEntropyError, type AePlacement } from './types.js';

const READ_CHUNK_KEYS = 256;
const MEMBERS_GROUP_BUCKETS = 256;
const ENTRY_OVERHEAD_BYTES = 8;
const RECORD_OVERHEAD_BYTES = 48;

/** One session's tree of one partition, as of round `sid`; `changed`: buckets written by the session's `need` since. */
interface CachedTree {
  tree: Promise<MerkleTree>;
  sid: string;
  readonly changed: Set<number>;
  usedMs: number;
  readonly bornMs: number;
}

export interface ResponderHooks {
  /** The peer asks this region to pull `keys` from it. */
  onNeed(peer: string, req: RequestOf<'need'>): Promise<Record<string, number>>;
  /** No inbound replication or anti-entropy can still bring older versions here. */
  quiet(): boolean;
}

function treeKey(peer: string, sid: string, ks: string, p: number): string {
  return `${peer}|${sid}|${ks}|${p}`;
}

export class AeResponder {
  private readonly serving = new Map<string, number>();
  private readonly trees = new Map<string, CachedTree>();

  constructor(private readonly ctx: AeContext, private readonly hooks: ResponderHooks) {}

  /** Requests being served for `peer` right now. */
  servingFor(peer: string): number {
    return this.serving.get(peer) ?? 0;
  }

  handle(peer: string, req: AeRequest): void {
    const n = this.servingFor(peer);
    if (n >= this.ctx.limits.servingPerPeerMax) return this.refuse(peer, req.id, 'busy', `${n} requests of ${peer} in service`);
    this.serving.set(peer, n + 1);
    this.serve(peer, req)
      .then((payload) => this.ctx.rpc.reply(peer, req.id, payload))
      .catch((err: unknown) => {
        if (err instanceof AntiEntropyError && err.peer === peer) return this.refuse(peer, req.id, err.code as ErrorCode, err.message);
        this.ctx.log.warn({ peer, op: req.op, err: (err as Error).message }, 'anti-entropy request failed');
        this.refuse(peer, req.id, 'failed', (err as Error).message);
      })
      .finally(() => this.serving.set(peer, Math.max(0, this.servingFor(peer) - 1)));
  }

  private refuse(peer: string, id: number, code: ErrorCode, msg: string): void {
    try {
      this.ctx.rpc.error(peer, id, code, msg);
    } catch (err) {
      this.ctx.log.warn({ peer, err: (err as Error).message }, 'anti-entropy error reply not sent');
    }
  }

  private serve(peer: string, req: AeRequest): Promise<Record<string, unknown>> {
    switch (req.op) {
      case 'tree': return this.tree(peer, req);
      case 'keys': return this.keys(peer, req);
      case 'get': return this.get(peer, req);
      case 'need': return this.need(peer, req);
      case 'tcheck': return this.tcheck(peer, req);
      case 'tcollect': return this.tcollect(peer, req);
    }
  }

  private placement(peer: string, ks: string, p?: number, n?: number): AePlacement {
    const map = this.ctx.placement(ks);
    if (!map) throw new AntiEntropyError(peer, 'unknown_keyspace', `unknown keyspace ${ks}`);
    if (p !== undefined && p >= map.keyspace.partitions) throw new AntiEntropyError(peer, 'bad_request', `partition ${p} out of range`);
    if (n !== undefined && n !== map.merkleBuckets) throw new AntiEntropyError(peer, 'config_mismatch', `merkle buckets ${n} != ${map.merkleBuckets}`);
    return map;
  }

  private async tree(peer: string, req: RequestOf<'tree'>): Promise<Record<string, unknown>> {
    const map = this.placement(peer, req.ks, req.p, req.n);
    if (req.f !== this.ctx.limits.fanout) throw new AntiEntropyError(peer, 'config_mismatch', `fanout ${req.f} != ${this.ctx.limits.fanout}`);
    const shape = treeShape(map.merkleBuckets, req.f);
    if (req.lv >= shape.depth) throw new AntiEntropyError(peer, 'bad_request', `level ${req.lv} has no children (depth ${shape.depth})`);
    if (req.lv >= 0 && req.ps.some((x) => x >= levelWidth(shape, req.lv))) throw new AntiEntropyError(peer, 'bad_request', `node outside level ${req.lv}`);
    const tree = await this.cachedTree(treeKey(peer, req.ss ?? req.sid, req.ks, req.p), req.sid, shape, req.ks, req.p);
    return { h: req.lv < 0 ? tree.root() : toWire(tree.children(req.lv, req.ps), roundSalt(req.sid)) };
  }

  /**
   * The session's tree for round `sid`: built on first use; on a later round, the buckets
   * changed by the session's `need` are re-read. An entry idle for `requestTimeoutMs`, older
   * than `treeCacheAgeMsMax` or past `treeCacheEntriesMax` (oldest first) is dropped.
   */
  private cachedTree(cacheKey: string, sid: string, shape: TreeShape, ks: string, p: number): Promise<MerkleTree> {
    const now = this.ctx.clock.monoMs();
    const { requestTimeoutMs, treeCacheAgeMsMax, treeCacheEntriesMax } = this.ctx.limits;
    let hit = this.trees.get(cacheKey);
    if (hit && (now - hit.usedMs >= requestTimeoutMs || now - hit.bornMs >= treeCacheAgeMsMax)) {
      this.trees.delete(cacheKey);
      hit = undefined;
    }
    if (!hit) {
      hit = { tree: localTree(this.ctx.store, ks, p, shape, undefined, []), sid, changed: new Set(), usedMs: now, bornMs: now };
      this.trees.set(cacheKey, hit);
      for (const k of this.trees.keys()) {
        if (this.trees.size <= treeCacheEntriesMax) break;
        this.trees.delete(k);
      }
    } else if (sid !== hit.sid) {
      const changed = [...hit.changed];
      hit.changed.clear();
      hit.sid = sid;
      hit.tree = hit.tree.then((t) => localTree(this.ctx.store, ks, p, shape, t, changed));
    }
    hit.usedMs = now;
    const entry = hit;
    entry.tree.catch(() => { if (this.trees.get(cacheKey) === entry) this.trees.delete(cacheKey); });
    return entry.tree;
  }

  /** This region applied versions to `buckets` for session `sid` of `peer` (its `need`). */
  changed(peer: string, sid: string, ks: string, p: number, buckets: Iterable<number>): void {
    const hit = this.trees.get(treeKey(peer, sid, ks, p));
    if (hit) for (const b of buckets) hit.changed.add(b);
  }

  private async keys(peer: string, req: RequestOf<'keys'>): Promise<Record<string, unknown>> {
    const map = this.placement(peer, req.ks, req.p, req.n);
    if (req.bs.some((b) => b >= map.merkleBuckets)) throw new AntiEntropyError(peer, 'bad_request', 'bucket out of range');
    const { entriesPerReplyMax: entriesMax, messageBytesMax: bytesMax } = this.ctx.limits;
    const b: number[] = [];
    const k: string[] = [];
    const v: string[] = [];
    let bytes = 0;
    let i = req.i;
    let c = req.c;
    const add = (bucket: number, key: string, version: string) => {
      b.push(bucket); k.push(key); v.push(version);
      bytes += key.length + version.length + ENTRY_OVERHEAD_BYTES;
    };
    outer: while (i < req.bs.length && k.length < entriesMax && bytes < bytesMax) {
      const bucket = req.bs[i]!;
      if (c !== '') {
        const step = await this.ctx.store.scanMembers(req.ks, req.p, bucket, c, Math.min(512, entriesMax - k.length));
        step.keys.forEach((key, j) => add(bucket, key, step.versions[j]!));
        c = step.cursor === '0' ? '' : step.cursor;
        if (c === '') i++;
        continue;
      }
      const group = req.bs.slice(i, i + MEMBERS_GROUP_BUCKETS);
      const members = await this.ctx.store.bucketMembers(req.ks, req.p, group, entriesMax);
      if (members.length === 0) throw new Error('bucketMembers read no bucket');
      for (let j = 0; j < members.length; j++) {
        const m = members[j]!;
        if (m === null) { c = '0'; continue outer; }
        if (k.length > 0 && (k.length + m.size > entriesMax || bytes >= bytesMax)) break outer;
        for (const [key, version] of m) add(group[j]!, key, version);
        i++;
      }
    }
    return { b, k, v, ni: i < req.bs.length ? i : null, nc: c };
  }

  private async get(peer: string, req: RequestOf<'get'>): Promise<Record<string, unknown>> {
    this.placement(peer, req.ks, req.p);
    const recs: WireRecord[] = [];
    let bytes = 0;
    let n = 0;
    const single = this.ctx.limits.frameBytesMax - 4096;
    while (n < req.keys.length) {
      const chunk = req.keys.slice(n, n + READ_CHUNK_KEYS);
      const rows = await this.ctx.store.readRecords(req.ks, chunk);
      for (let j = 0; j < rows.length; j++) {
        const row = rows[j];
        const size = row ? row[3].byteLength + row[0].length + row[5].length + row[4].length + RECORD_OVERHEAD_BYTES : 0;
        if (row && size > single) {
          this.ctx.log.warn({ peer, keyspace: req.ks, key: chunk[j], bytes: size }, 'record larger than a frame: not sent by anti-entropy');
        } else if (row) {
          if (recs.length > 0 && bytes + size > this.ctx.limits.messageBytesMax) return { recs, n };
          recs.push(row);
          bytes += size;
        }
        n++;
      }
    }
    return { recs, n };
  }

  private async need(peer: string, req: RequestOf<'need'>): Promise<Record<string, unknown>> {
    this.placement(peer, req.ks, req.p);
    return this.hooks.onNeed(peer, req);
  }

  private async tcheck(peer: string, req: RequestOf<'tcheck'>): Promise<Record<string, unknown>> {
    this.placement(peer, req.ks);
    return { codes: await this.ctx.store.tombstoneStates(req.ks, req.items), quiet: this.hooks.quiet() };
  }

  private async tcollect(peer: string, req: RequestOf<'tcollect'>): Promise<Record<string, unknown>> {
    const map = this.placement(peer, req.ks);
    for (const [key, p, b] of req.items) {
      const placed = map.place(key);
      if (placed.partition !== p || placed.bucket !== b) throw new AntiEntropyError(peer, 'bad_request', `misplaced tombstone ${key}`);
    }
    const quiet = this.hooks.quiet();
    if (!quiet) return { codes: req.items.map(() => 3), quiet };
    return { codes: await this.ctx.store.collectTombstones(req.ks, req.items), quiet };
  }
}
