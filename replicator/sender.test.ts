import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { MemoryLog } from './memory.js';
import { LogSender, type LogGap, type SenderOptions } from './sender.js';
import { change, flush, RecordingTransport, writeMany } from './testing/fixtures.js';

const OPTIONS: SenderOptions = { batchRecordsMax: 10, batchBytesMax: 64 * 1024, windowBatchesMax: 3, pollMs: 1_000 };

function setup(cursor = 0, options: Partial<SenderOptions> = {}) {
  const clock = new FakeClock();
  const log = new MemoryLog();
  const transport = new RecordingTransport(clock);
  const gaps: LogGap[] = [];
  const acks: number[] = [];
  let incarnationChanged = 0;
  const sender = new LogSender(log, transport, clock, silentLogger(), { ...OPTIONS, ...options }, {
    onAcked: (s) => acks.push(s), onGap: (g) => gaps.push(g), onIncarnationChanged: () => incarnationChanged++,
  }, cursor, 'inc-1');
  return { clock, log, transport, sender, gaps, acks, changed: () => incarnationChanged };
}

describe('LogSender', () => {
  it('stops at windowBatchesMax un-acked batches of batchRecordsMax records, resumes on ack', async () => {
    const { log, transport, sender } = setup();
    writeMany(log, 'eu', 100);
    await sender.start();
    await flush();
    const batches = transport.changes();
    expect(batches).toHaveLength(3);
    expect(batches.every((b) => b.length === 10)).toBe(true);
    expect(sender.inflight()).toBe(3);
    expect(sender.onAck(20)).toBe(true);
    await flush();
    expect(transport.changes()).toHaveLength(5);
    expect(sender.inflight()).toBe(3);
    const seqs = transport.changes().flat().map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('ships new records while a batch is in flight (no wait for its ack), up to the window', async () => {
    const { log, transport, sender } = setup(0, { windowBatchesMax: 3 });
    await sender.start();
    for (let i = 1; i <= 4; i++) {
      log.append(change('eu', `k${i}`, i));
      sender.notifyAppended(i);
      await flush();
    }
    expect(transport.changes().map((b) => b.map((r) => r.seq))).toEqual([[1], [2], [3]]);
    expect(sender.inflight()).toBe(3);
    expect(sender.onAck(1)).toBe(true);
    await flush();
    expect(transport.changes().at(-1)!.map((r) => r.seq)).toEqual([4]);
  });

  it('records appended during a read go out together in the next batch', async () => {
    const { log, transport, sender } = setup(0, { windowBatchesMax: 8 });
    await sender.start();
    await flush();
    log.append(change('eu', 'a', 1));
    sender.notifyAppended(1);
    for (let i = 2; i <= 5; i++) {
      log.append(change('eu', `k${i}`, i));
      sender.notifyAppended(i);
    }
    await flush();
    expect(transport.changes().map((b) => b.length)).toEqual([1, 4]);
  });

  it('does not read the log when the known head is already sent', async () => {
    const { log, sender } = setup();
    writeMany(log, 'eu', 3);
    await sender.start();
    sender.notifyAppended(3);
    await flush();
    const reads = log.reads;
    sender.notifyAppended(3);
    sender.notifyAppended(2);
    await flush();
    expect(log.reads).toBe(reads);
  });

  it('bounds batches by bytes (one oversized record still ships alone)', async () => {
    const { log, transport, sender } = setup(0, { batchBytesMax: 2_000, windowBatchesMax: 100 });
    writeMany(log, 'eu', 10, 'k', 500);
    writeMany(log, 'eu', 1, 'big', 5_000);
    await sender.start();
    await flush();
    const sizes = transport.changes().map((b) => b.reduce((n, r) => n + r.record.value.byteLength, 0));
    expect(Math.max(...sizes.slice(0, -1))).toBeLessThanOrEqual(2_000);
    expect(transport.changes().at(-1)).toHaveLength(1);
    expect(transport.changes().flat()).toHaveLength(11);
  });

  it('wakes on notifyAppended, not by busy polling', async () => {
    const { log, transport, sender, clock } = setup();
    await sender.start();
    await flush();
    const readsIdle = log.reads;
    await flush(50);
    expect(log.reads).toBe(readsIdle);
    writeMany(log, 'eu', 2);
    sender.notifyAppended();
    await flush();
    expect(transport.changes().flat()).toHaveLength(2);
    writeMany(log, 'eu', 1, 'late');
    clock.advance(OPTIONS.pollMs); // the slow poll catches a missed notification
    await flush();
    expect(transport.changes().flat()).toHaveLength(3);
  });

  it('resumes after the cursor: nothing at or before it is sent again', async () => {
    const { log, transport, sender } = setup(7);
    writeMany(log, 'eu', 12);
    await sender.start();
    await flush();
    expect(transport.changes().flat().map((r) => r.seq)).toEqual([8, 9, 10, 11, 12]);
  });

  it('reports a gap when the log was trimmed past the cursor, then ships what exists', async () => {
    const { log, transport, sender, gaps } = setup(3);
    writeMany(log, 'eu', 10);
    await log.trimThrough(6);
    await sender.start();
    await flush();
    expect(gaps).toEqual([{ afterSeq: 3, firstSeq: 7 }]);
    expect(transport.changes().flat().map((r) => r.seq)).toEqual([7, 8, 9, 10]);
  });

  it('refuses an ack beyond what was sent', async () => {
    const { log, sender } = setup();
    writeMany(log, 'eu', 2);
    await sender.start();
    await flush();
    expect(sender.onAck(3)).toBe(false);
    expect(sender.onAck(2)).toBe(true);
  });

  it('notices a new log incarnation on the slow poll', async () => {
    const { log, sender, clock, changed } = setup();
    await sender.start();
    log.reset('inc-2');
    clock.advance(OPTIONS.pollMs);
    await flush();
    expect(changed()).toBe(1);
  });
});
