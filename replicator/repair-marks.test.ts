import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, stopCluster, type TestRegion } from './testing/cluster.js';
import { until, writeMany } from './testing/fixtures.js';
import type { RepairMarkStore } from './repair-marks.js';
import type { CursorEvent } from './replicator.js';

class MemoryMarks implements RepairMarkStore {
  readonly marks = new Map<string, string>();
  async load(): Promise<Map<string, string>> { return new Map(this.marks); }
  async set(peer: string, mark: string): Promise<void> { this.marks.set(peer, mark); }
  async clear(peer: string, mark: string): Promise<void> { if (this.marks.get(peer) === mark) this.marks.delete(peer); }
}

let regions: TestRegion[] = [];
afterEach(async () => {
  await stopCluster(regions);
  regions = [];
});

describe('needs-repair marks', () => {
  it('a mark held from before the restart is taken over and told to the listeners', async () => {
    regions = await startCluster(['eu', 'us']);
    const eu = regions[0]!.replicator;
    const store = new MemoryMarks();
    store.marks.set('us', 'old-1');
    const told: string[] = [];
    eu.onNeedsRepair((peer) => told.push(peer));
    await eu.useRepairMarks(store);
    expect(told).toEqual(['us']);
    expect(eu.status()[0]!.needsRepair).toBe(true);
    expect(eu.repairMark('us')).toBe('old-1');
  });

  it('a repair clears only the mark it began under; the durable mark goes with it', async () => {
    regions = await startCluster(['eu', 'us']);
    const eu = regions[0]!.replicator;
    const store = new MemoryMarks();
    await eu.useRepairMarks(store);
    eu.markNeedsRepair('us', 'test');
    const first = eu.repairMark('us')!;
    await until(() => store.marks.get('us') === first, 1000, 'mark persisted');
    eu.markNeedsRepair('us', 'a newer hole while the first repair runs');
    const second = eu.repairMark('us')!;
    expect(second).not.toBe(first);
    eu.clearNeedsRepair('us', first); // the repair that began under the first mark
    expect(eu.status()[0]!.needsRepair).toBe(true);
    eu.clearNeedsRepair('us', second);
    expect(eu.status()[0]!.needsRepair).toBe(false);
    await until(() => !store.marks.has('us'), 1000, 'durable mark removed');
  });

  it('marks set before the store was in use are persisted when it is', async () => {
    regions = await startCluster(['eu', 'us']);
    const eu = regions[0]!.replicator;
    eu.markNeedsRepair('us', 'early');
    const store = new MemoryMarks();
    await eu.useRepairMarks(store);
    expect(store.marks.get('us')).toBe(eu.repairMark('us'));
  });
});

describe('cursor reports', () => {
  it('every link reports the peer\'s cursor; one above our log\'s last seq is reported with that seq', async () => {
    regions = await startCluster(['eu', 'us']);
    const [eu, us] = regions as [TestRegion, TestRegion];
    const events: CursorEvent[] = [];
    eu.replicator.onCursor((e) => events.push(e));
    writeMany(eu.log, 'eu', 20);
    eu.replicator.notifyAppended(20);
    await until(() => us.sink.records.size === 20, 5000, 'replicated');
    await until(() => events.length >= 1, 5000, 'cursor reported');
    expect(events[0]).toMatchObject({ peer: 'us', cursor: 0, ownIncarnation: 'eu-inc-1' });
    // eu's log comes back with 5 entries under the same incarnation; us has applied 20
    eu.log.reset('eu-inc-1');
    writeMany(eu.log, 'eu', 5);
    const before = events.length;
    eu.replicator.resetLog('test: links restart');
    await until(() => events.some((e, i) => i >= before && e.lastSeq !== undefined), 5000, 'cursor ahead reported');
    expect(events.find((e, i) => i >= before && e.lastSeq !== undefined)).toMatchObject({ peer: 'us', cursor: 20, lastSeq: 5, ownIncarnation: 'eu-inc-1' });
  });
});
