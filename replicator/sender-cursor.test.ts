import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { MemoryLog } from './memory.js';
import { LogSender, type SenderOptions } from './sender.js';
import { RecordingTransport, flush, writeMany } from './testing/fixtures.js';

const OPTIONS: SenderOptions = { batchRecordsMax: 10, batchBytesMax: 1 << 20, windowBatchesMax: 4, pollMs: 1000 };

function setup(log: MemoryLog, cursor: number) {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const ahead: [number, number][] = [];
  const sender = new LogSender(log, transport, clock, silentLogger(), OPTIONS, {
    onAcked: () => {}, onGap: () => {}, onIncarnationChanged: () => {}, onCursorAhead: (c, l) => ahead.push([c, l]),
  }, cursor, 'inc-1');
  return { sender, transport, ahead };
}

describe('LogSender cursor above the log', () => {
  it('reports a cursor above the log\'s last seq and ships nothing', async () => {
    const log = new MemoryLog('inc-1');
    writeMany(log, 'eu', 5);
    const { sender, transport, ahead } = setup(log, 20);
    await sender.start();
    await flush();
    expect(ahead).toEqual([[20, 5]]);
    expect(transport.changes()).toHaveLength(0);
    sender.stop();
  });

  it('records shipped while the bounds are read are no cursor above the log', async () => {
    const log = new MemoryLog('inc-1');
    writeMany(log, 'eu', 5);
    const bounds = log.bounds.bind(log);
    let release: () => void = () => {};
    // the bounds read answers with the log as it was, after a notifyAppended shipped more
    log.bounds = async () => { const b = await bounds(); await new Promise<void>((r) => { release = r; }); return b; };
    const { sender, transport, ahead } = setup(log, 5);
    const started = sender.start();
    writeMany(log, 'eu', 3);
    sender.notifyAppended(8);
    await flush();
    expect(transport.changes().length).toBeGreaterThan(0); // sent is 8 now
    release();
    await started;
    expect(ahead).toEqual([]);
    sender.stop();
  });
});
