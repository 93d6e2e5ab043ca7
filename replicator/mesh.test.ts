import { afterEach, describe, expect, it } from 'vitest';
import { MemoryLog, MemorySink } from './memory.js';
import { Registry } from 'prom-client';
import { listen, metricValue, newReplicator, startCluster, stopCluster, type TestRegion } from './testing/cluster.js';
import { until, writeMany } from './testing/fixtures.js';
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

function allUp(regions: TestRegion[]): boolean {
  return regions.every((r) => r.replicator.status().every((s) => s.state === 'up' && s.linkState === 'established'));
}

/** Every (origin, seq) applied exactly once, seqs 1..count contiguous. */
function expectExactlyOnce(sink: MemorySink, origin: string, count: number): void {
  const seqs = sink.effects.filter((e) => e.origin === origin).map((e) => e.seq);
  expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i + 1));
}

describe('replication mesh over loopback WebSockets', () => {
  it('2 regions: writes in each appear in the other and both acks advance', async () => {
    const [eu, us] = await cluster(['eu', 'us']);
    await until(() => allUp([eu!, us!]), 5_000, 'links up');
    writeMany(eu!.log, 'eu', 50);
    eu!.replicator.notifyAppended(50);
    writeMany(us!.log, 'us', 30);
    us!.replicator.notifyAppended(30);
    await until(() => eu!.sink.records.size === 30 && us!.sink.records.size === 50, 5_000, 'replicated');
    await until(() => eu!.replicator.status()[0]!.ackedSeq === 50, 5_000, 'acked');
    expect(eu!.replicator.status()[0]).toMatchObject({ region: 'us', dialer: true, lagEntries: 0, needsRepair: false });
    await until(() => us!.replicator.status()[0]!.ackedSeq === 30, 5_000, 'acked by eu');
    expect(us!.replicator.status()[0]).toMatchObject({ region: 'eu', dialer: false, lagEntries: 0 });
    expectExactlyOnce(us!.sink, 'eu', 50);
    expect(await metricValue(eu!.registry, 'geogate_replication_frames_sent_total', { peer: 'us', type: 'changes' })).toBeGreaterThan(0);
    expect(await metricValue(eu!.registry, 'geogate_replication_link_up', { peer: 'us' })).toBe(1);
  });

  it('3 regions fully meshed: every write reaches both other regions', async () => {
    const regions = await cluster(['ap', 'eu', 'us']);
    await until(() => allUp(regions), 5_000, 'links up');
    for (const r of regions) {
      writeMany(r.log, r.name, 20);
      r.replicator.notifyAppended(20);
    }
    await until(() => regions.every((r) => r.sink.records.size === 40), 5_000, 'replicated');
    for (const r of regions) for (const other of regions) if (other !== r) expectExactlyOnce(r.sink, other.name, 20);
    await until(() => regions.every((r) => r.replicator.minAckedSeq() === 20), 5_000, 'acks');
    // Housekeeping trims through the minimum acked cursor: every peer acked all 20 entries.
    const lengths = async () => Promise.all(regions.map(async (r) => (await r.log.bounds()).length));
    let trimmed: number[] = [];
    await until(() => { void lengths().then((l) => { trimmed = l; }); return trimmed.length === 3 && trimmed.every((n) => n === 0); }, 5_000, 'trimmed');
  });

  it('a link cut mid-stream resumes from the cursor: no gap, no duplicate effect', async () => {
    const eu = await listen();
    const us = await listen();
    const relay = await TcpRelay.start(us.url);
    cleanup.push(() => relay.close());
    const euLog = new MemoryLog('eu-1');
    const usSink = new MemorySink();
    const euRegion = { name: 'eu', server: eu.server, url: eu.url, log: euLog, sink: new MemorySink(), registry: new Registry() };
    const usRegion = { name: 'us', server: us.server, url: us.url, log: new MemoryLog('us-1'), sink: usSink, registry: new Registry() };
    const options = { batchRecordsMax: 5, windowBatchesMax: 2 };
    const euRep = newReplicator(euRegion, [{ region: 'us', url: relay.url }], options);
    const usRep = newReplicator(usRegion, [{ region: 'eu', url: eu.url }], options);
    const regions = [{ ...euRegion, replicator: euRep }, { ...usRegion, replicator: usRep }];
    cleanup.push(() => stopCluster(regions));
    for (const r of regions) { r.replicator.attach(r.server); r.replicator.start(); }
    await until(() => allUp(regions), 5_000, 'links up');

    let cuts = 0;
    for (let round = 0; round < 5; round++) {
      writeMany(euLog, 'eu', 400, `r${round}-`);
      euRep.notifyAppended();
      await until(() => usSink.effects.length > round * 400 + 50, 5_000, 'some progress');
      relay.cut();
      cuts++;
    }
    await until(() => usSink.effects.length >= 2_000 && euRep.status()[0]!.ackedSeq === 2_000, 10_000, 'all applied after reconnects');
    expect(cuts).toBe(5);
    expectExactlyOnce(usSink, 'eu', 2_000);
    expect(await metricValue(usRegion.registry, 'geogate_replication_applied_records_total', { peer: 'eu', outcome: 'applied' })).toBe(2_000);
  });

  it('a restarted receiver resumes from its applied cursor (HELLO), not from zero', async () => {
    const [eu, us] = await cluster(['eu', 'us']);
    await until(() => allUp([eu!, us!]), 5_000, 'links up');
    writeMany(eu!.log, 'eu', 100);
    eu!.replicator.notifyAppended(100);
    await until(() => us!.sink.effects.length === 100, 5_000, 'first 100');
    await us!.replicator.stop();
    writeMany(eu!.log, 'eu', 100, 'second-');
    eu!.replicator.notifyAppended(200);
    us!.replicator = newReplicator({ ...us!, registry: new Registry() }, [{ region: 'eu', url: eu!.url }]);
    us!.replicator.attach(us!.server);
    us!.replicator.start();
    await until(() => us!.sink.effects.length === 200, 5_000, 'second 100');
    expectExactlyOnce(us!.sink, 'eu', 200);
  });

  it('routes control frames to registered topics', async () => {
    const [eu, us] = await cluster(['eu', 'us']);
    await until(() => allUp([eu!, us!]), 5_000, 'links up');
    const got: unknown[] = [];
    us!.replicator.registerTopic('vote', (peer, body) => { got.push({ peer, body }); });
    expect(eu!.replicator.sendControl('us', 'vote', { partition: 3, epoch: 7 })).toBe(true);
    expect(eu!.replicator.sendControl('us', 'unregistered', 1)).toBe(true);
    await until(() => got.length === 1, 2_000, 'control frame');
    expect(got[0]).toEqual({ peer: 'eu', body: { partition: 3, epoch: 7 } });
    expect(() => us!.replicator.registerTopic('vote', () => {})).toThrow();
    expect(() => eu!.replicator.sendControl('mars', 'vote', 1)).toThrow(/unknown peer/);
  });

  it('resetLog forgets the old log (head, cursors, trim point), fails sync waits and restarts the links', async () => {
    const [eu, us] = await cluster(['eu', 'us']);
    await until(() => allUp([eu!, us!]), 5_000, 'links up');
    writeMany(eu!.log, 'eu', 50);
    eu!.replicator.notifyAppended(50);
    await until(() => eu!.replicator.status()[0]!.ackedSeq === 50, 5_000, 'acked');
    const closesBefore = eu!.replicator.status()[0]!.lastCloseReason;
    eu!.replicator.resetLog('store lost its data');
    const s = eu!.replicator.status()[0]!;
    expect(s).toMatchObject({ ackedSeq: null, lagEntries: 0 });
    expect(eu!.replicator.minAckedSeq()).toBeNull(); // nothing may be trimmed on an old cursor
    // an ack of the old log (seq 50) must not satisfy a sync wait for seq 1 of the new one
    expect(await eu!.replicator.waitForAck('us', 1, 50)).toBe(false);
    await until(() => eu!.replicator.status()[0]!.lastCloseReason !== closesBefore, 5_000, 'link closed');
    expect(eu!.replicator.status()[0]!.lastCloseReason).toMatch(/our log restarted/);
    await until(() => allUp([eu!, us!]), 5_000, 'links back');
  });
});
