/**
 * The conflict store and worker on a real redis-server: losers kept in full, bounded
 * journal / outbox / dead letters whose evictions are counted, the consumer's ack cursor,
 * the fence checked by the resolve script, and pending versions read only where this region
 * may resolve them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { ConflictStore, RegionStore, parseGatewayConfig, type KeyspaceConfig } from '../../gateway/index.js';
import { ConflictWorker } from '../../gateway/merge/conflict-worker.js';
import { conflictRoutes } from '../../gateway/http/conflict-routes.js';
import { RetentionSweeper } from '../../gateway/merge/retention.js';
import { ActionWorker } from '../../gateway/merge/action-worker.js';
import type { WriteAuthority } from '../../gateway/authority.js';
import { silentLogger } from '../../infra/log.js';
import { realClock } from '../../infra/clock.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';

let redis: RedisProcess;
let client: Redis;
let n = 0;
beforeAll(async () => { ({ redis } = await startRedis()); client = new Redis(redis.url); });
afterAll(async () => { client.disconnect(); await redis.stop(); });

function keyspace(name: string, onSplit: 'fence' | 'diverge', partitions = 2): KeyspaceConfig {
  return parseGatewayConfig({
    region: 'east', listen: { port: 1 }, publicUrl: 'http://x:1', redis: { url: 'redis://x' },
    cluster: { id: 'c', secret: 'a-secret-of-16-chars', regions: ['east', 'west'] },
    keyspaces: [{ name, partitions, onSplit }],
  }, 't').keyspaces[0]!;
}

const allowAll: WriteAuthority = {
  check: () => ({ kind: 'local', epoch: 0, fenced: false }), activeRegion: () => 'east', partitionState: () => 'active', mayResolve: () => true,
};

/** Every key of these tests is in partition 0 but 'theirs' (1): the partitions the stores keep them under. */
const partitionOf = (_ks: string, key: string) => (key === 'theirs' ? 1 : 0);

function setup(opts: { ks?: KeyspaceConfig; authority?: WriteAuthority; journalMaxEntries?: number; journalMaxBytes?: number; outboxMaxEntries?: number; deadLetterMaxEntries?: number } = {}) {
  const prefix = `cj${++n}:`;
  const store = new RegionStore(client, { region: 'east', prefix, partitionOf, logMaxEntries: 10_000, logMaxBytes: 1 << 26, nowMs: () => Date.now() });
  const conflicts = new ConflictStore(client, store.keys, {
    region: 'east', logMaxEntries: 10_000, logMaxBytes: 1 << 26, journalMaxEntries: opts.journalMaxEntries ?? 1000, nowMs: () => Date.now(),
    ...(opts.journalMaxBytes !== undefined && { journalMaxBytes: opts.journalMaxBytes }),
    ...(opts.outboxMaxEntries !== undefined && { outboxMaxEntries: opts.outboxMaxEntries }),
    ...(opts.deadLetterMaxEntries !== undefined && { deadLetterMaxEntries: opts.deadLetterMaxEntries }),
  });
  const ks = opts.ks ?? keyspace('carts', 'diverge');
  const registry = new Registry();
  const worker = new ConflictWorker({ valueBytesMax: 1 << 20,
    region: 'east', store, conflicts, keyspaces: new Map([[ks.name, ks]]), clock: realClock, log: silentLogger(), registry,
    authority: opts.authority ?? allowAll, onLocalWrite: () => {},
  });
  /** east wrote `mine`, west's concurrent `theirs` arrives (west's write is later: it wins lww). */
  const conflict = async (key: string, mine: Buffer, theirs: Buffer, partition = 0) => {
    await store.write({ keyspace: ks.name, key, partition, bucket: 0, value: mine, contentType: 'application/octet-stream', tombstone: false, epoch: 4, fenced: false });
    const incoming = { seq: 0, keyspace: ks.name, key, partition, bucket: 0,
      record: { value: theirs, contentType: 'application/octet-stream', vv: { west: 1 }, hlc: [Date.now() + 60_000, 0] as const, origin: 'west', epoch: 4, tombstone: false } };
    expect(await store.applyVersions([incoming])).toEqual(['conflict']);
  };
  const evicted = async (stream: string) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'geogate_evicted_total');
    return (m?.values as { labels: { stream?: string }; value: number }[] | undefined)?.find((v) => v.labels.stream === stream)?.value ?? 0;
  };
  return { store, conflicts, worker, ks, conflict, evicted };
}

const bytes = (size: number, seed: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff));

describe('conflict journal: losers in full, bounded, evictions counted, ack cursor', () => {
  it('keeps both sides of a 200 KiB conflict byte for byte (served base64 by GET /v1/conflicts)', async () => {
    const { conflicts, worker, conflict } = setup();
    const mine = bytes(200 * 1024, 1);
    const theirs = bytes(200 * 1024, 2);
    await conflict('big', mine, theirs);
    expect(await worker.drainOnce()).toBe(1);
    const res = await conflictRoutes(conflicts).request('/?limit=10');
    const body = (await res.json()) as { conflicts: Record<string, string>[] };
    const [e] = body.conflicts;
    expect(e!.winner).toBe('incoming');
    expect(Buffer.from(e!.currentValue!, 'base64').equals(mine)).toBe(true); // the loser
    expect(Buffer.from(e!.incomingValue!, 'base64').equals(theirs)).toBe(true);
    expect(e!.currentValueBytes).toBe(String(200 * 1024));
  });

  it('bounded in entries: the oldest unacknowledged entries dropped are counted; acknowledged ones are not', async () => {
    const { conflicts, worker, conflict, evicted } = setup({ journalMaxEntries: 3 });
    for (let i = 0; i < 5; i++) await conflict(`k${i}`, Buffer.from(`e${i}`), Buffer.from(`w${i}`));
    expect(await worker.drainOnce()).toBe(5);
    expect(await conflicts.journalLength()).toBe(3);
    expect(await evicted('journal')).toBe(2);
    // a consumer reads everything and acknowledges it: later trims of those are no evictions
    const app = conflictRoutes(conflicts);
    const page = (await (await app.request('/?limit=10')).json()) as { conflicts: { id: string }[]; next: string };
    expect(page.conflicts).toHaveLength(3);
    const ack = await app.request('/ack', { method: 'POST', body: JSON.stringify({ id: page.next }) });
    expect(await ack.json()).toEqual({ acked: page.next });
    for (let i = 5; i < 8; i++) await conflict(`k${i}`, Buffer.from(`e${i}`), Buffer.from(`w${i}`));
    expect(await worker.drainOnce()).toBe(3);
    expect(await conflicts.journalLength()).toBe(3);
    expect(await evicted('journal')).toBe(2);
    const after = (await (await app.request(`/?after=${page.next}`)).json()) as { conflicts: { key: string }[]; acked: string };
    expect(after.conflicts.map((c) => c.key).sort()).toEqual(['k5', 'k6', 'k7']);
    expect(after.acked).toBe(page.next);
    // the cursor never moves back
    expect(await (await app.request('/ack', { method: 'POST', body: JSON.stringify({ id: '1-0' }) })).json()).toEqual({ acked: page.next });
  });

  it('bounded in bytes: with 200 KiB values a 1 MiB journal keeps the newest entries, and counts what it dropped', async () => {
    const { conflicts, worker, conflict, evicted } = setup({ journalMaxBytes: 1024 * 1024 });
    for (let i = 0; i < 6; i++) await conflict(`b${i}`, bytes(200 * 1024, i), bytes(200 * 1024, i + 100));
    expect(await worker.drainOnce()).toBe(6);
    expect(await conflicts.journalBytes()).toBeLessThanOrEqual(1024 * 1024);
    const kept = await conflicts.journalLength();
    expect(kept).toBe(2); // two entries of ~400 KiB each
    expect(await evicted('journal')).toBe(6 - kept);
    const entries = await conflicts.readJournal('', 10);
    for (const e of entries) {
      const i = Number(e.fields.key!.slice(1));
      expect(Buffer.from(e.fields.currentValue!, 'base64').equals(bytes(200 * 1024, i))).toBe(true);
    }
  });

  it('the outbox and the dead letters are bounded exactly, and report what the bound dropped', async () => {
    const { store, conflicts, conflict } = setup({ outboxMaxEntries: 2, deadLetterMaxEntries: 2 });
    await conflict('o', Buffer.from('a'), Buffer.from('b'));
    const [p] = await conflicts.pendingFor('carts', 'o');
    const cur = (await store.get('carts', 'o'))!;
    const res = await conflicts.writeResolution({
      keyspace: 'carts', key: 'o', partition: 0, bucket: 0, expectedVersion: cur.version, incomingVersion: p!.version,
      resolved: { ...p!.record, vv: { east: 2, west: 1 } }, hlcFloor: '1.0', journal: {}, actions: ['{"n":1}', '{"n":2}', '{"n":3}'],
    });
    expect(res).toMatchObject({ written: true, outboxEvicted: 1 });
    const outbox = await conflicts.readOutbox(10);
    expect(outbox.map(([, json]) => json)).toEqual(['{"n":2}', '{"n":3}']);
    expect(await conflicts.deadLetterOutbox(outbox[0]![0], outbox[0]![1], 'HTTP 500')).toBe(0);
    expect(await conflicts.deadLetterOutbox(outbox[1]![0], outbox[1]![1], 'HTTP 500')).toBe(0);
    expect(await conflicts.deadLetterOutbox('0-1', '{"n":4}', 'HTTP 500')).toBe(1);
    const dead = await conflicts.readDeadLetters('', 10);
    expect(dead.map((d) => d.action)).toEqual(['{"n":3}', '{"n":4}']);
    // an operator handles them and acknowledges: they are gone
    const app = conflictRoutes(conflicts);
    expect(await (await app.request('/dead-letters/ack', { method: 'POST', body: JSON.stringify({ id: dead[0]!.id }) })).json()).toEqual({ removed: 1 });
    expect(((await (await app.request('/dead-letters')).json()) as { total: number }).total).toBe(1);
  });
});

describe('retention: age bounds of the journal, the outbox and the dead letters', () => {
  const bounds = { journalMaxEntries: 1000, journalMaxBytes: 1 << 26, journalMaxAgeMs: 1000, deadLetterMaxEntries: 1000, deadLetterMaxAgeMs: 1000 };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('journal entries older than journalMaxAgeMs are dropped by the sweep; the unacknowledged ones are counted as evictions, the newer kept', async () => {
    const { conflicts, worker, conflict, evicted } = setup();
    const registry = new Registry();
    const sweeper = new RetentionSweeper(conflicts, bounds, { clock: realClock, log: silentLogger(), registry }, 1000);
    for (let i = 0; i < 3; i++) await conflict(`a${i}`, Buffer.from(`e${i}`), Buffer.from(`w${i}`));
    expect(await worker.drainOnce()).toBe(3);
    const [first] = await conflicts.readJournal('', 1);
    await conflicts.ackJournal(first!.id); // a consumer read the first one
    expect(await sweeper.sweepOnce()).toEqual({ journalDropped: 0, journalEvicted: 0, deadLettersDropped: 0 }); // all young
    await sleep(1100);
    await conflict('fresh', Buffer.from('e'), Buffer.from('w'));
    expect(await worker.drainOnce()).toBe(1);
    const bytesBefore = await conflicts.journalBytes();
    expect(await sweeper.sweepOnce()).toEqual({ journalDropped: 3, journalEvicted: 2, deadLettersDropped: 0 });
    const left = await conflicts.readJournal('', 10);
    expect(left.map((e) => e.fields.key)).toEqual(['fresh']);
    expect(await conflicts.journalBytes()).toBeLessThan(bytesBefore);
    expect(await conflicts.journalBytes()).toBeGreaterThan(0);
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'geogate_evicted_total');
    expect((m?.values as { labels: { stream?: string }; value: number }[]).find((v) => v.labels.stream === 'journal')?.value).toBe(2);
    expect(await evicted('journal')).toBe(0); // the append-time bounds dropped nothing
    await sleep(1100);
    expect((await sweeper.sweepOnce()).journalDropped).toBe(1);
    expect(await conflicts.journalLength()).toBe(0);
    expect(await conflicts.journalBytes()).toBe(0);
  });

  it('a sweep drops at most its bound of entries and goes on where it stopped', async () => {
    const { conflicts, worker, conflict } = setup();
    for (let i = 0; i < 300; i++) await conflict(`m${i}`, Buffer.from('e'), Buffer.from('w'));
    expect(await worker.drainOnce()).toBe(300);
    await sleep(1100);
    const first = await conflicts.sweep(bounds);
    expect(first).toMatchObject({ journalDropped: 256, more: true });
    expect(await conflicts.sweep(bounds)).toMatchObject({ journalDropped: 44, more: false });
    expect(await conflicts.journalLength()).toBe(0);
  });

  it('an acknowledgement past the newest entry is clamped to it: later entries stay unread (their drops count)', async () => {
    const { conflicts, worker, conflict } = setup();
    await conflict('ack1', Buffer.from('e'), Buffer.from('w'));
    expect(await worker.drainOnce()).toBe(1);
    const [only] = await conflicts.readJournal('', 10);
    expect(await conflicts.ackJournal('99999999999999-0')).toBe(only!.id);
    expect(await conflicts.journalAcked()).toBe(only!.id);
  });

  it('dead letters past their bounds go at most one round per call, oldest first; the sweep goes on', async () => {
    const { conflicts } = setup();
    for (let i = 0; i < 300; i++) await conflicts.deadLetterOutbox(`0-${i + 1}`, `{"n":${i}}`, 'HTTP 500');
    const tight = { ...bounds, deadLetterMaxEntries: 10, deadLetterMaxAgeMs: 60_000 };
    expect(await conflicts.sweep(tight)).toMatchObject({ deadLettersDropped: 256, more: true });
    expect(await conflicts.sweep(tight)).toMatchObject({ deadLettersDropped: 34, more: false });
    expect((await conflicts.readDeadLetters('', 20)).map((d) => d.action)[0]).toBe('{"n":290}');
  });

  it('dead letters older than deadLetterMaxAgeMs are dropped and counted', async () => {
    const { conflicts } = setup();
    const registry = new Registry();
    const sweeper = new RetentionSweeper(conflicts, bounds, { clock: realClock, log: silentLogger(), registry }, 1000);
    await conflicts.deadLetterOutbox('0-1', '{"n":1}', 'HTTP 500');
    await sleep(1100);
    await conflicts.deadLetterOutbox('0-2', '{"n":2}', 'HTTP 500');
    expect(await sweeper.sweepOnce()).toMatchObject({ deadLettersDropped: 1 });
    expect((await conflicts.readDeadLetters('', 10)).map((d) => d.action)).toEqual(['{"n":2}']);
  });

  it('an action undelivered for longer than outboxMaxAgeMs goes to the dead letters, not lost', async () => {
    const { store, conflicts, conflict } = setup();
    await conflict('old', Buffer.from('a'), Buffer.from('b'));
    const [p] = await conflicts.pendingFor('carts', 'old');
    const cur = (await store.get('carts', 'old'))!;
    await conflicts.writeResolution({
      keyspace: 'carts', key: 'old', partition: 0, bucket: 0, expectedVersion: cur.version, incomingVersion: p!.version,
      resolved: { ...p!.record, vv: { east: 2, west: 1 } }, hlcFloor: '1.0', journal: {},
      actions: [JSON.stringify({ id: 'x1', kind: 'webhook', url: 'http://127.0.0.1:9/never', body: {} })],
    });
    await sleep(1100);
    let posts = 0;
    const actions = new ActionWorker(conflicts, {
      clock: realClock, log: silentLogger(), registry: new Registry(), outboxMaxAgeMs: 1000,
      fetch: (async () => { posts++; return new Response('no', { status: 500 }); }) as typeof fetch,
    }, 50);
    actions.start();
    try {
      for (let i = 0; i < 100 && (await conflicts.deadLetterLength()) === 0; i++) await sleep(20);
    } finally { actions.stop(); }
    const [dead] = await conflicts.readDeadLetters('', 10);
    expect(dead?.reason).toMatch(/undelivered for longer than conflicts.outboxMaxAgeMs \(1000 ms\)/);
    expect(JSON.parse(dead!.action)).toMatchObject({ id: 'x1' });
    expect(await conflicts.readOutbox(10)).toEqual([]);
    expect(posts).toBe(0);
  });
});

describe('conflict worker: authority and fence', () => {
  it('reads pending versions only of partitions it may resolve', async () => {
    const { conflicts, worker, conflict } = setup({
      authority: { ...allowAll, mayResolve: (_ks, p) => p === 0 },
    });
    await conflict('mine', Buffer.from('a'), Buffer.from('b'), 0);
    await conflict('theirs', Buffer.from('c'), Buffer.from('d'), 1);
    const read: string[] = [];
    const pendingFor = conflicts.pendingFor.bind(conflicts);
    conflicts.pendingFor = async (ks, key) => { read.push(key); return pendingFor(ks, key); };
    expect(await worker.drainOnce()).toBe(1);
    expect(await worker.drainOnce()).toBe(0);
    expect(read).toEqual(['mine']);
    expect(await conflicts.pendingCount()).toBe(1); // partition 1's conflict waits for its active region
  });

  it('on a fence keyspace, a resolution without a valid fence for the resolver\'s epoch is refused and retried later', async () => {
    const ks = keyspace('orders', 'fence');
    const leaseEnd = () => performance.now() + 10_000;
    const { store, conflicts, worker, conflict } = setup({
      ks, authority: { ...allowAll, check: () => ({ kind: 'local', epoch: 4, fenced: true, leaseEndMonoMs: leaseEnd() }) },
    });
    await conflict('o', Buffer.from('owner'), Buffer.from('other'));
    expect(await worker.drainOnce()).toBe(0); // no fence in the store: refused
    expect(Buffer.from((await store.get('orders', 'o'))!.value).toString()).toBe('owner');
    expect(await conflicts.pendingCount()).toBe(1);
    await store.setFence('orders', 0, 3, leaseEnd()); // a fence of another epoch does not hold either
    expect(await worker.drainOnce()).toBe(0);
    await store.setFence('orders', 0, 4, leaseEnd());
    expect(await worker.drainOnce()).toBe(1);
    expect(Buffer.from((await store.get('orders', 'o'))!.value).toString()).toBe('other');
    expect(await conflicts.pendingCount()).toBe(0);
  });

  it('on a fence keyspace, no resolution while this region has no write authority', async () => {
    const ks = keyspace('orders', 'fence');
    const { conflicts, worker, conflict } = setup({
      ks, authority: { ...allowAll, check: () => ({ kind: 'unavailable', retryAfterMs: 100, reason: 'no lease' }) },
    });
    await conflict('o', Buffer.from('owner'), Buffer.from('other'));
    expect(await worker.drainOnce()).toBe(0);
    expect(await conflicts.pendingCount()).toBe(1);
  });
});

describe('re-offer of pending versions (regions that may not resolve)', () => {
  it('offers versions pending long enough, at most REOFFER_KEYS_PER_ROUND_MAX keys a round, once per period; values unchanged', async () => {
    const { PendingReoffer, REOFFER_KEYS_PER_ROUND_MAX } = await import('../../gateway/merge/pending-reoffer.js');
    const { store, conflicts, ks, conflict } = setup({ authority: { ...allowAll, mayResolve: () => false } });
    const total = REOFFER_KEYS_PER_ROUND_MAX + 10;
    for (let i = 0; i < total; i++) await conflict(`r${i}`, Buffer.from(`e${i}`), bytes(1000, i));
    let mono = 10;
    const appended: number[] = [];
    const reoffer = new PendingReoffer({
      conflicts, keyspaces: new Map([[ks.name, ks]]), authority: { ...allowAll, mayResolve: () => false }, log: silentLogger(),
      clock: { ...realClock, monoMs: () => mono }, onLocalWrite: (seq) => appended.push(seq),
    }, 0);
    const before = (await store.bounds()).lastSeq;
    expect(await reoffer.maybeRun()).toBe(REOFFER_KEYS_PER_ROUND_MAX);
    expect(appended).toHaveLength(REOFFER_KEYS_PER_ROUND_MAX);
    mono = 11;
    const second = await reoffer.maybeRun();
    expect(second).toBeGreaterThan(0);
    expect(second).toBeLessThanOrEqual(REOFFER_KEYS_PER_ROUND_MAX);
    // the log carries the pending versions as they are
    const entries = await store.readLog(before, 2 * total, 1 << 26);
    expect(entries).toHaveLength(REOFFER_KEYS_PER_ROUND_MAX + second);
    // an older period: nothing pending long enough yet
    const slow = new PendingReoffer({
      conflicts, keyspaces: new Map([[ks.name, ks]]), authority: { ...allowAll, mayResolve: () => false }, log: silentLogger(),
      clock: realClock, onLocalWrite: () => {},
    }, 60_000);
    expect(await slow.maybeRun()).toBe(0);
    expect(await conflicts.pendingCount()).toBe(total);
    const [p] = await conflicts.pendingFor(ks.name, 'r3');
    expect(Buffer.from(p!.record.value).equals(bytes(1000, 3))).toBe(true);
  });
});
