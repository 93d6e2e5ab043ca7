import { describe, expect, it } from 'vitest';
import { PassThrough, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { FakeClock, seededRandom } from '../clock.js';
import { Pipe, type PipeCounters } from './pipe.js';
import { DEFAULT_DIRECTION_SETTINGS, type DirectionSettings } from './settings.js';

function setup(settings: Partial<DirectionSettings>, bufferBytesMax = 1 << 20) {
  const clock = new FakeClock();
  const source = new PassThrough();
  const received: Array<{ atMs: number; data: Buffer }> = [];
  let ended = false;
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      received.push({ atMs: clock.monoMs(), data: chunk });
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  const current: DirectionSettings = { ...DEFAULT_DIRECTION_SETTINGS, ...settings };
  const counters: PipeCounters = { bytesForwarded: 0, bytesDropped: 0, chunksForwarded: 0, bytesQueuedPeak: 0 };
  const pipe = new Pipe(source as unknown as Socket, dest as unknown as Socket, {
    clock, random: seededRandom(3), bufferBytesMax, settings: () => current, counters,
  });
  source.on('data', (chunk: Buffer) => pipe.onData(chunk));
  source.on('end', () => pipe.onEnd());
  const bytes = () => Buffer.concat(received.map((r) => r.data));
  return { clock, source, dest, pipe, received, counters, current, bytes, isEnded: () => ended };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Pipe', () => {
  it('holds each chunk exactly for the delay', () => {
    const t = setup({ delayMs: 100 });
    t.pipe.onData(Buffer.from('a'));
    t.clock.advance(30);
    t.pipe.onData(Buffer.from('b'));
    t.clock.advance(99);
    expect(t.received.map((r) => [r.atMs, r.data.toString()])).toEqual([[100, 'a']]);
    t.clock.advance(1);
    expect(t.received.map((r) => [r.atMs, r.data.toString()])).toEqual([[100, 'a'], [130, 'b']]);
  });

  it('holds each chunk for the delay and keeps order under jitter', async () => {
    const t = setup({ delayMs: 100, jitterMs: 300 });
    const sentAt: number[] = [];
    for (let i = 0; i < 50; i++) {
      sentAt.push(t.clock.monoMs());
      t.pipe.onData(Buffer.from([i]));
      t.clock.advance(7);
    }
    t.clock.advance(1000);
    await tick();
    expect([...t.bytes()]).toEqual([...Array(50).keys()]);
    t.received.forEach((r, i) => expect(r.atMs).toBeGreaterThanOrEqual((sentAt[i] ?? 0) + 100));
    for (let i = 1; i < t.received.length; i++) expect(t.received[i]!.atMs).toBeGreaterThanOrEqual(t.received[i - 1]!.atMs);
  });

  it('stall holds bytes until unstalled, then releases them in order', async () => {
    const t = setup({ stall: true });
    t.pipe.onData(Buffer.from('abc'));
    t.clock.advance(5000);
    expect(t.received).toHaveLength(0);
    expect(t.pipe.queuedBytes).toBe(3);
    t.current.stall = false;
    t.pipe.kick();
    expect(t.bytes().toString()).toBe('abc');
  });

  it('never queues more than bufferBytesMax and pauses the source at the bound', async () => {
    const t = setup({ stall: true }, 1000);
    t.source.write(Buffer.alloc(700, 1));
    t.source.write(Buffer.alloc(700, 2));
    t.source.write(Buffer.alloc(700, 3));
    await tick();
    expect(t.pipe.queuedBytes).toBe(1000);
    expect(t.counters.bytesQueuedPeak).toBe(1000);
    expect(t.source.isPaused()).toBe(true);
    t.current.stall = false;
    t.pipe.kick();
    for (let i = 0; i < 10; i++) await tick();
    expect(t.bytes().length).toBe(2100);
    expect(t.counters.bytesQueuedPeak).toBe(1000);
    expect([...t.bytes()].slice(695, 705)).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  });

  it('blackhole drops arriving and queued bytes and marks the stream damaged', () => {
    const t = setup({ delayMs: 100 });
    t.pipe.onData(Buffer.from('queued'));
    t.current.cut = 'blackhole';
    t.pipe.dropQueued();
    t.pipe.onData(Buffer.from('late'));
    t.clock.advance(500);
    expect(t.received).toHaveLength(0);
    expect(t.counters.bytesDropped).toBe(10);
    expect(t.pipe.damaged).toBe(true);
  });

  it('limits bandwidth: 2000 bytes at 10 kB/s take 200 ms', () => {
    const t = setup({ bandwidthBytesPerSec: 10_000 });
    t.pipe.onData(Buffer.alloc(2000));
    t.clock.advance(150);
    expect(t.bytes().length).toBeLessThan(2000);
    t.clock.advance(60);
    expect(t.bytes().length).toBe(2000);
    expect(t.received.at(-1)!.atMs).toBeGreaterThanOrEqual(200);
  });

  it('passes the end of the stream on after the data', async () => {
    const t = setup({ delayMs: 10 });
    t.source.end(Buffer.from('bye'));
    await tick();
    await tick();
    t.clock.advance(20);
    await tick();
    expect(t.bytes().toString()).toBe('bye');
    expect(t.isEnded()).toBe(true);
  });
});
