import { describe, expect, it } from 'vitest';
import type { LogEntry } from './packed.js';
import { TailCache } from './tail-cache.js';

const e = (seq: number, bytes = 10): LogEntry => ({ seq, bytes: new Uint8Array(bytes) });
const seqs = (r: LogEntry[] | null) => r?.map((x) => x.seq) ?? null;

describe('TailCache', () => {
  it('serves a contiguous run starting right after the cursor, bounded in records and bytes', () => {
    const c = new TailCache(100, 1 << 20);
    for (let s = 5; s <= 9; s++) c.add(e(s));
    expect(seqs(c.read(4, 10, 1000))).toEqual([5, 6, 7, 8, 9]);
    expect(seqs(c.read(6, 2, 1000))).toEqual([7, 8]);
    expect(seqs(c.read(6, 10, 25))).toEqual([7, 8]);
    expect(seqs(c.read(6, 10, 1))).toEqual([7]); // at least one
  });

  it('misses when the cursor is before the run, at or past its end', () => {
    const c = new TailCache(100, 1 << 20);
    for (let s = 5; s <= 9; s++) c.add(e(s));
    expect(c.read(3, 10, 1000)).toBeNull(); // seq 4 is only in the log
    expect(c.read(9, 10, 1000)).toBeNull();
    expect(c.read(20, 10, 1000)).toBeNull();
    expect(new TailCache().read(0, 10, 1000)).toBeNull();
  });

  it('a hole (an append that did not pass through) or a restarted seq starts a new run', () => {
    const c = new TailCache(100, 1 << 20);
    c.add(e(1));
    c.add(e(2));
    c.add(e(4));
    expect(c.read(2, 10, 1000)).toBeNull(); // seq 3 must come from the log
    expect(seqs(c.read(3, 10, 1000))).toEqual([4]);
    c.add(e(1)); // a new log incarnation
    expect(seqs(c.read(0, 10, 1000))).toEqual([1]);
    expect(c.read(3, 10, 1000)).toBeNull();
  });

  it('drops the oldest entries past its bounds', () => {
    const c = new TailCache(3, 1 << 20);
    for (let s = 1; s <= 5; s++) c.add(e(s));
    expect(c.size).toBe(3);
    expect(c.read(1, 10, 1000)).toBeNull();
    expect(seqs(c.read(2, 10, 1000))).toEqual([3, 4, 5]);
    const b = new TailCache(100, 25);
    for (let s = 1; s <= 5; s++) b.add(e(s));
    expect(seqs(b.read(3, 10, 1000))).toEqual([4, 5]);
    expect(b.read(2, 10, 1000)).toBeNull();
    const big = new TailCache(100, 25);
    big.add(e(1, 100)); // one entry over the byte bound is still kept (the newest always is)
    expect(seqs(big.read(0, 10, 1000))).toEqual([1]);
  });

  it('stays bounded over a long run', () => {
    const c = new TailCache(64, 1 << 20);
    for (let s = 1; s <= 100_000; s++) c.add(e(s));
    expect(c.size).toBe(64);
    expect(seqs(c.read(99_998, 10, 1000))).toEqual([99_999, 100_000]);
    expect((c as unknown as { entries: unknown[] }).entries.length).toBeLessThan(64 + 2048);
  });
});
