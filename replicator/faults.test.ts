import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, packRaw, encodeFrame } from './codec.js';
import { AckWaitersFullError } from './errors.js';
import { listen, metricValue, startCluster, startRegion, stopCluster, SECRET, type TestRegion } from './testing/cluster.js';
import { change, until, writeMany } from './testing/fixtures.js';
import { nextFrame, openRaw, rawHandshake } from './testing/raw-peer.js';
import { newNonce } from './auth.js';
import { packEntry } from './packed.js';
import { TcpRelay } from './testing/relay.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function cluster(names: string[], overrides = {}): Promise<TestRegion[]> {
  const regions = await startCluster(names, overrides);
  cleanup.push(() => stopCluster(regions));
  return regions;
}

/** One region 'us' serving; raw peers play 'eu' (eu < us, so eu is the dialler). */
async function serving(overrides = {}): Promise<TestRegion> {
  const us = await startRegion('us', [{ region: 'eu', url: 'http://127.0.0.1:9' }], overrides);
  cleanup.push(() => stopCluster([us]));
  return us;
}

const hello = { region: 'eu', serverRegion: 'us', clusterId: 'test-cluster', secret: SECRET };

describe('handshake refusals', () => {
  it('wrong secret: link refused with a reason and an auth-failure metric', async () => {
    const us = await serving();
    const raw = await openRaw(us.url);
    await rawHandshake(raw, { ...hello, secret: 'not-the-cluster-secret-000' });
    const closed = await raw.closed;
    expect(closed.code).toBe(4001);
    expect(closed.reason).toMatch(/proof/);
    expect(await metricValue(us.registry, 'geogate_replication_auth_failures_total', { peer: 'eu', reason: 'bad-proof' })).toBe(1);
    expect(us.replicator.status()[0]!.linkState).not.toBe('established');
  });

  it('wrong cluster id: refused before any proof is sent', async () => {
    const us = await serving();
    const raw = await openRaw(us.url);
    raw.send({ t: 'hello', v: PROTOCOL_VERSION, region: 'eu', clusterId: 'other-cluster', incarnation: 'i', nonce: newNonce(), applied: {}, proof: null });
    const closed = await raw.closed;
    expect(closed.code).toBe(4001);
    expect(closed.reason).toMatch(/cluster id/);
    expect(raw.frames.filter((f) => f.t === 'hello')).toHaveLength(0);
    expect(await metricValue(us.registry, 'geogate_replication_auth_failures_total', { reason: 'cluster-id' })).toBe(1);
  });

  it('wrong protocol version: refused with a version reason', async () => {
    const us = await serving();
    const raw = await openRaw(us.url);
    raw.send(packRaw({ t: 'hello', v: PROTOCOL_VERSION + 1, region: 'eu', clusterId: 'test-cluster', incarnation: 'i', nonce: newNonce(), applied: {}, proof: null }));
    const closed = await raw.closed;
    expect(closed.code).toBe(4002);
    expect(closed.reason).toMatch(/protocol version/);
    expect(await metricValue(us.registry, 'geogate_replication_auth_failures_total', { reason: 'version' })).toBe(1);
  });

  it('an unknown region is refused', async () => {
    const us = await serving();
    const stranger = await openRaw(us.url);
    stranger.send({ t: 'hello', v: PROTOCOL_VERSION, region: 'mars', clusterId: 'test-cluster', incarnation: 'i', nonce: newNonce(), applied: {}, proof: null });
    expect((await stranger.closed).reason).toMatch(/not a configured peer/);
    expect(await metricValue(us.registry, 'geogate_replication_auth_failures_total', { peer: 'unknown', reason: 'unknown-peer' })).toBe(1);
  });

  it('real replicators with different secrets never establish and count failures', async () => {
    const [eu, us] = await cluster(['eu', 'us'], { us: { secret: 'a-different-secret-0123456789' } });
    await until(() => eu!.replicator.status()[0]!.lastCloseReason !== null, 5_000, 'refusal');
    expect(eu!.replicator.status()[0]!.linkState).not.toBe('established');
    expect(us!.replicator.status()[0]!.state).toBe('down');
    await until(() => (us!.replicator.status()[0]!.heartbeatAgeMs ?? null) === null);
  });
});

describe('bad frames from an authenticated peer', () => {
  it('malformed bytes close the link with a reason; the process and other links live', async () => {
    const us = await serving();
    const raw = await openRaw(us.url);
    await rawHandshake(raw, hello);
    await until(() => us.replicator.status()[0]!.linkState === 'established', 2_000, 'established');
    raw.send(new Uint8Array([0xc1, 0xc1, 0xc1]));
    const closed = await raw.closed;
    expect(closed.code).toBe(4003);
    expect(closed.reason).toMatch(/undecodable/);
    await until(() => us.replicator.status()[0]!.linkState !== 'established', 2_000, 'closed');
    expect(us.replicator.status()[0]!.lastCloseReason).toMatch(/undecodable/);
    // A fresh, well-behaved link is accepted afterwards.
    const again = await openRaw(us.url);
    await rawHandshake(again, hello);
    await until(() => us.replicator.status()[0]!.linkState === 'established', 2_000, 're-established');
    again.ws.terminate();
  });

  it('a frame over frameBytesMax closes the link (1009)', async () => {
    const us = await serving({ frameBytesMax: 64 * 1024, batchBytesMax: 32 * 1024 });
    const raw = await openRaw(us.url);
    await rawHandshake(raw, hello);
    await until(() => us.replicator.status()[0]!.linkState === 'established', 2_000, 'established');
    raw.send(encodeFrame({ t: 'ctl', v: PROTOCOL_VERSION, topic: 'ae', body: new Uint8Array(100 * 1024) }, 1 << 20));
    const closed = await raw.closed;
    expect(closed.code).toBe(1009);
    await until(() => us.replicator.status()[0]!.linkState !== 'established', 2_000, 'closed');
  });

  it('a peer that overruns the receive queue is cut off at receiveQueueBatchesMax', async () => {
    const us = await serving({ receiveQueueBatchesMax: 4 });
    let release!: () => void;
    us.sink.applyDelay = new Promise<void>((resolve) => { release = resolve; });
    const raw = await openRaw(us.url);
    await rawHandshake(raw, hello);
    for (let i = 1; i <= 6; i++) raw.send({ t: 'changes', v: PROTOCOL_VERSION, records: [packEntry({ ...change('eu', `k${i}`, i), seq: i })] });
    const closed = await raw.closed;
    expect(closed.reason).toMatch(/receive queue over 4 batches/);
    release();
  });

  it('idle heartbeat traffic on the wire stays under 1 KB/s per link (both directions)', async () => {
    const us = await startRegion('us', []);
    cleanup.push(() => stopCluster([us]));
    const relay = await TcpRelay.start(us.url);
    cleanup.push(() => relay.close());
    await us.replicator.stop();
    const { newReplicator } = await import('./testing/cluster.js');
    us.replicator = newReplicator(us, [{ region: 'eu', url: 'http://127.0.0.1:9' }]);
    us.replicator.attach(us.server);
    us.replicator.start();
    const eu = await startRegion('eu', [{ region: 'us', url: relay.url }]);
    cleanup.push(() => stopCluster([eu]));
    await until(() => eu.replicator.status()[0]!.state === 'up' && us.replicator.status()[0]!.state === 'up', 5_000, 'up');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = relay.bytesUp + relay.bytesDown;
    const windowMs = 2_000;
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const bytesPerSecond = ((relay.bytesUp + relay.bytesDown - before) * 1000) / windowMs;
    expect(bytesPerSecond).toBeGreaterThan(0); // heartbeats do flow
    expect(bytesPerSecond).toBeLessThanOrEqual(1024);
    expect(eu.replicator.status()[0]!.state).toBe('up');
    const heartbeats = await metricValue(eu.registry, 'geogate_replication_frames_sent_total', { peer: 'us', type: 'hb' });
    expect(heartbeats).toBeGreaterThanOrEqual(15);
  });

  it('acks only after apply; duplicates are harmless', async () => {
    const us = await serving();
    const raw = await openRaw(us.url);
    await rawHandshake(raw, hello);
    const batch = { t: 'changes' as const, v: PROTOCOL_VERSION, records: [1, 2, 3].map((i) => packEntry({ ...change('eu', `k${i}`, i), seq: i })) };
    raw.send(batch);
    raw.send(batch);
    expect(await nextFrame(raw, 'ack')).toMatchObject({ seq: 3 });
    expect(await nextFrame(raw, 'ack')).toMatchObject({ seq: 3 });
    expect(us.sink.effects).toHaveLength(3);
    raw.ws.terminate();
  });
});

describe('bounds and health', () => {
  it('keeps at most windowBatchesMax un-acked batches while the peer applies slowly', async () => {
    const [eu, us] = await cluster(['eu', 'us'], { eu: { batchRecordsMax: 5, windowBatchesMax: 2 } });
    await until(() => eu!.replicator.status()[0]!.linkState === 'established' && us!.replicator.status()[0]!.linkState === 'established');
    let release!: () => void;
    us!.sink.applyDelay = new Promise<void>((resolve) => { release = resolve; });
    writeMany(eu!.log, 'eu', 100);
    eu!.replicator.notifyAppended(100);
    await until(() => eu!.replicator.status()[0]!.inflightBatches === 2, 2_000, 'window full');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(eu!.replicator.status()[0]!.inflightBatches).toBe(2);
    expect(await metricValue(eu!.registry, 'geogate_replication_frames_sent_total', { peer: 'us', type: 'changes' })).toBe(2);
    us!.sink.applyDelay = null;
    release();
    await until(() => us!.sink.effects.length === 100, 5_000, 'drained');
  });

  it('reports needs-repair when the log was trimmed past the peer cursor, then ships the rest', async () => {
    // eu's log was trimmed through 6 before us (cursor 0) ever connected.
    const usListening = await listen();
    const eu = await startRegion('eu', [{ region: 'us', url: usListening.url }]);
    cleanup.push(() => stopCluster([eu]));
    await eu.replicator.stop();
    writeMany(eu.log, 'eu', 10);
    await eu.log.trimThrough(6);
    usListening.server.close();
    const { newReplicator } = await import('./testing/cluster.js');
    const us = [await startRegion('us', [{ region: 'eu', url: eu.url }])];
    cleanup.push(() => stopCluster(us));
    eu.replicator = newReplicator({ ...eu, registry: eu.registry }, [{ region: 'us', url: us[0]!.url }]);
    const gaps: unknown[] = [];
    eu.replicator.onNeedsRepair((peer, gap) => gaps.push({ peer, gap }));
    eu.replicator.attach(eu.server);
    eu.replicator.start();
    await until(() => us[0]!.sink.effects.length === 4, 5_000, 'rest shipped');
    expect(gaps).toEqual([{ peer: 'us', gap: { afterSeq: 0, firstSeq: 7 } }]);
    expect(eu.replicator.status()[0]!.needsRepair).toBe(true);
    expect(await metricValue(eu.registry, 'geogate_replication_needs_repair', { peer: 'us' })).toBe(1);
    expect(us[0]!.sink.effects.map((e) => e.seq)).toEqual([7, 8, 9, 10]);
  });

  it('waitForAck: true once acked, false on timeout, false when the link is down, bounded', async () => {
    const [eu, us] = await cluster(['eu', 'us'], { eu: { ackWaitersMax: 2 } });
    await until(() => eu!.replicator.status()[0]!.linkState === 'established' && us!.replicator.status()[0]!.linkState === 'established');
    writeMany(eu!.log, 'eu', 1);
    const ok = eu!.replicator.waitForAck('us', 1, 2_000);
    eu!.replicator.notifyAppended(1);
    expect(await ok).toBe(true);
    let release!: () => void;
    us!.sink.applyDelay = new Promise<void>((resolve) => { release = resolve; });
    writeMany(eu!.log, 'eu', 1, 'slow');
    eu!.replicator.notifyAppended(2);
    const started = performance.now();
    expect(await eu!.replicator.waitForAck('us', 2, 150)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    const a = eu!.replicator.waitForAck('us', 2, 5_000);
    const b = eu!.replicator.waitForAck('us', 2, 5_000);
    expect(() => eu!.replicator.waitForAck('us', 2, 5_000)).toThrow(AckWaitersFullError);
    await us!.replicator.stop(); // link down: pending waiters resolve false
    expect(await Promise.all([a, b])).toEqual([false, false]);
    expect(await eu!.replicator.waitForAck('us', 3, 5_000)).toBe(false);
    release();
  });

  it('detects a silent peer: suspect within missedMax heartbeats of the cut', async () => {
    const [eu, us] = await cluster(['eu', 'us']);
    await until(() => eu!.replicator.status()[0]!.state === 'up' && us!.replicator.status()[0]!.state === 'up');
    const changes: { to: string; atMs: number }[] = [];
    const t0 = performance.now();
    us!.replicator.onPeerState((c) => changes.push({ to: c.to, atMs: performance.now() - t0 }));
    await eu!.replicator.stop(); // eu closes its link and goes silent
    await until(() => us!.replicator.status()[0]!.state === 'down', 3_000, 'down');
    expect(changes.map((c) => c.to)).toEqual(['suspect', 'down']);
    expect(changes[0]!.atMs).toBeLessThan(500);
    expect(changes[1]!.atMs).toBeLessThan(1_200);
  });
});
