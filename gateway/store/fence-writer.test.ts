import { describe, expect, it } from 'vitest';
import { FENCE_RETRY_MS, FenceWriter, type FenceBatchWrite, type FenceChange } from './fence-writer.js';

const set = (key: string, epoch: number, end = 1000, token = 't1'): FenceChange => ({ key, partition: Number(key.slice(1)), set: { epoch, leaseEndMonoMs: end }, token });
const drop = (key: string, token = 't1'): FenceChange => ({ key, partition: Number(key.slice(1)), set: undefined, token });
const turn = () => new Promise((r) => setImmediate(r));
const none = new Map<FenceChange, Error>();

/** A write that records its batches, issues at once and answers no failure. */
function recorder(): { batches: FenceChange[][]; write: FenceBatchWrite } {
  const batches: FenceChange[][] = [];
  return { batches, write: async (b, issued) => { batches.push([...b]); issued(); return none; } };
}

describe('FenceWriter: fences written in batches', () => {
  it('the fences of one turn go in one batch; a later state of a fence replaces the queued one', async () => {
    const { batches, write } = recorder();
    const w = new FenceWriter(write);
    const done = Promise.all([w.submit(set('f0', 1)), w.submit(set('f1', 1)), w.submit(set('f0', 2)), w.submit(drop('f1'))]);
    expect(w.pending).toBe(2);
    await done;
    expect(batches).toEqual([[set('f0', 2), drop('f1')]]);
    expect(w.pending).toBe(0);
  });

  it('the next batch waits while one is prepared, not for its reply: the commands reach the connection in order', async () => {
    const batches: FenceChange[][] = [];
    let issueFirst!: () => void;
    let replyFirst!: () => void;
    const w = new FenceWriter(async (b, issued) => {
      batches.push([...b]);
      if (batches.length === 1) {
        await new Promise<void>((r) => { issueFirst = () => { issued(); r(); }; }); // still mapping its ends
        await new Promise<void>((r) => { replyFirst = r; }); // sent, no reply yet
      } else issued();
      return none;
    });
    const first = w.submit(set('f0', 1));
    await turn();
    expect(batches.length).toBe(1);
    const second = w.submit(set('f0', 2));
    const third = w.submit(set('f3', 2));
    await turn();
    await turn();
    expect(batches.length, 'nothing is sent while the first batch is prepared').toBe(1);
    issueFirst();
    await Promise.all([second, third]); // written while the first one's reply is still out
    expect(batches).toEqual([[set('f0', 1)], [set('f0', 2), set('f3', 2)]]);
    replyFirst();
    await first;
  });

  it('a failed set rejects its waiters and is not written again; a failed removal is, until written', async () => {
    const batches: FenceChange[][] = [];
    let failing = true;
    const w = new FenceWriter(async (b, issued) => {
      batches.push([...b]);
      issued();
      return failing ? new Map(b.map((c) => [c, new Error('store unavailable')])) : none;
    });
    const [es, ed] = await Promise.all([w.submit(set('f0', 1)).catch((e: Error) => e), w.submit(drop('f1')).catch((e: Error) => e)]);
    expect((es as Error).message).toBe('store unavailable');
    expect((ed as Error).message).toBe('store unavailable');
    expect(w.pending, 'the removal is queued again, the set is not').toBe(1);
    failing = false;
    await new Promise((r) => setTimeout(r, FENCE_RETRY_MS + 100));
    expect(batches).toEqual([[set('f0', 1), drop('f1')], [drop('f1')]]);
    expect(w.pending).toBe(0);
  });

  it('a failed removal is not written again when a newer state replaced it, nor when its error is final', async () => {
    const batches: FenceChange[][] = [];
    const refused = new Error('not the coordinator');
    let fail: Error | undefined = new Error('store unavailable');
    const w = new FenceWriter(async (b, issued) => {
      batches.push([...b]);
      issued();
      const err = fail;
      fail = undefined;
      return err ? new Map(b.map((c) => [c, err])) : none;
    }, (err) => err !== refused);
    // the removal fails while a newer state of its fence is queued: the newer one is written alone
    const dropped = w.submit(drop('f0')).catch((e: Error) => e);
    await turn();
    const renewed = w.submit(set('f0', 3));
    expect((await dropped as Error).message).toBe('store unavailable');
    await renewed;
    expect(batches).toEqual([[drop('f0')], [set('f0', 3)]]);
    // refused for good: not queued again
    fail = refused;
    expect(await w.submit(drop('f2')).catch((e: Error) => e)).toBe(refused);
    expect(w.pending).toBe(0);
  });

  it('a write that throws fails the whole batch with its error', async () => {
    const w = new FenceWriter(async () => { throw new Error('boom'); }, () => false);
    expect(((await w.submit(set('f0', 1)).catch((e: Error) => e)) as Error).message).toBe('boom');
    expect(w.pending).toBe(0);
  });

  it('the queue is bounded by the fences, not by the renewals', async () => {
    let release!: () => void;
    const w = new FenceWriter((b, issued) => new Promise((r) => { release = () => { issued(); r(none); }; }));
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
