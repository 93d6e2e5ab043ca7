import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { PROTOCOL_VERSION, type ChangesFrame } from './codec.js';
import { MemorySink } from './memory.js';
import { APPLY_RECORDS_MAX, ChangeReceiver, takeApplyBatch } from './receiver.js';
import { change, flush, RecordingTransport } from './testing/fixtures.js';
import { type LogEntry, packEntry } from './packed.js';

const frame = (from: number, to: number): ChangesFrame => ({
  t: 'changes', v: PROTOCOL_VERSION,
  records: Array.from({ length: to - from + 1 }, (_, i): LogEntry => packEntry({ ...change('eu', `k${from + i}`, from + i), seq: from + i })),
});

class CountingSink extends MemorySink {
  readonly calls: number[][] = [];
  override async apply(origin: string, incarnation: string, batch: readonly LogEntry[]) {
    this.calls.push(batch.map((r) => r.seq));
    return super.apply(origin, incarnation, batch);
  }
}

function setup(queueMax = 64) {
  const clock = new FakeClock();
  const sink = new CountingSink();
  const transport = new RecordingTransport(clock);
  const receiver = new ChangeReceiver('eu', 'inc-1', sink, transport, silentLogger(), queueMax, () => {});
  const acks = () => transport.frames.flatMap((f) => (f.t === 'ack' ? [f.seq] : []));
  return { sink, transport, receiver, acks };
}

describe('ChangeReceiver', () => {
  it('applies batches queued behind a running apply in one store call, with one ack', async () => {
    const { sink, receiver, acks } = setup();
    let release!: () => void;
    sink.applyDelay = new Promise<void>((resolve) => { release = resolve; });
    receiver.push(frame(1, 2));
    receiver.push(frame(3, 4));
    receiver.push(frame(5, 7));
    sink.applyDelay = null;
    release();
    await flush();
    expect(sink.calls).toEqual([[1, 2], [3, 4, 5, 6, 7]]);
    expect(acks()).toEqual([2, 7]);
    expect(sink.effects.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('applies a resent batch on its own (its seqs do not continue the queue)', async () => {
    const { sink, receiver, acks } = setup();
    let release!: () => void;
    sink.applyDelay = new Promise<void>((resolve) => { release = resolve; });
    receiver.push(frame(1, 3));
    receiver.push(frame(4, 5));
    receiver.push(frame(4, 5));
    sink.applyDelay = null;
    release();
    await flush();
    expect(sink.calls).toEqual([[1, 2, 3], [4, 5], [4, 5]]);
    expect(acks()).toEqual([3, 5, 5]);
    expect(sink.effects).toHaveLength(5);
  });

  it('closes the link when the queue is over its bound', async () => {
    const { sink, receiver, transport } = setup(2);
    sink.applyDelay = new Promise<void>(() => {});
    receiver.push(frame(1, 1));
    receiver.push(frame(2, 2));
    receiver.push(frame(3, 3));
    expect(transport.closed?.kind).toBe('protocol');
  });
});

describe('takeApplyBatch', () => {
  it('stops at the records bound but always takes the first batch whole', () => {
    const big = frame(1, APPLY_RECORDS_MAX + 10);
    expect(takeApplyBatch([big, frame(APPLY_RECORDS_MAX + 11, APPLY_RECORDS_MAX + 11)], APPLY_RECORDS_MAX, 1 << 30))
      .toMatchObject({ frames: 1, records: big.records });
    const merged = takeApplyBatch([frame(1, 3), frame(4, 6), frame(7, 9)], 6, 1 << 30);
    expect(merged.frames).toBe(2);
    expect(merged.records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('stops at the bytes bound', () => {
    const q = [frame(1, 2), frame(3, 4)];
    expect(takeApplyBatch(q, 100, 1).frames).toBe(1);
  });
});
