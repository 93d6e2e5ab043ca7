import { describe, expect, it } from 'vitest';
import { FenceWriter, type FenceChange } from './fence-writer.js';

const set = (key: string, epoch: number, end = 1000): FenceChange => ({ key, partition: Number(key.slice(1)), set: { epoch, leaseEndMonoMs: end } });
const drop = (key: string): FenceChange => ({ key, partition: Number(key.slice(1)), set: undefined });
const turn = () => new Promise((r) => setImmediate(r));

describe('FenceWriter: fences written in batches', () => {
  it('the fences of one turn go in one batch; a later state of a fence replaces the queued one', async () => {
    const batches: FenceChange[][] = [];
    const w = new FenceWriter(async (b) => { batches.push([...b]); });
    const done = Promise.all([w.submit(set('f0', 1)), w.submit(set('f1', 1)), w.submit(set('f0', 2)), w.submit(drop('f1'))]);
    expect(w.pending).toBe(2);
    await done;
    expect(batches).toEqual([[set('f0', 2), drop('f1')]]);
    expect(w.pending).toBe(0);
  });

  it('one batch at a time: what is queued while one is written goes in the next, in order', async () => {
    const batches: FenceChange[][] = [];
    let release!: () => void;
    const w = new FenceWriter(async (b) => {
      batches.push([...b]);
      if (batches.length === 1) await new Promise<void>((r) => { release = r; });
    });
    const first = w.submit(set('f0', 1));
    await turn();
    expect(batches.length).toBe(1);
    // queued while the first batch is in flight: not sent until it ends
    const second = w.submit(set('f0', 2));
    const third = w.submit(set('f3', 2));
    await turn();
    await turn();
    expect(batches.length).toBe(1);
    release();
    await Promise.all([first, second, third]);
    expect(batches).toEqual([[set('f0', 1)], [set('f0', 2), set('f3', 2)]]);
  });

  it('a failed batch rejects each of its fences with the batch\'s error; the next batch is written', async () => {
    let fail = true;
    const batches: FenceChange[][] = [];
    const w = new FenceWriter(async (b) => {
      batches.push([...b]);
      if (fail) throw new Error('store unavailable');
    });
    const a = w.submit(set('f0', 1)).catch((e: Error) => e);
    const b = w.submit(set('f1', 1)).catch((e: Error) => e);
    const [ea, eb] = await Promise.all([a, b]);
    expect((ea as Error).message).toBe('store unavailable');
    expect(eb).toBe(ea);
    fail = false;
    await w.submit(set('f0', 2));
    expect(batches.at(-1)).toEqual([set('f0', 2)]);
  });

  it('the queue is bounded by the fences, not by the renewals', async () => {
    let release!: () => void;
    const w = new FenceWriter(() => new Promise<void>((r) => { release = r; }));
    const all: Promise<void>[] = [w.submit(set('f0', 0))];
    await turn();
    for (let round = 1; round <= 50; round++) for (let p = 0; p < 100; p++) all.push(w.submit(set(`f${p}`, round)));
    expect(w.pending).toBe(100);
    release();
    await turn();
    await turn();
    release();
    await Promise.all(all);
  });
});
