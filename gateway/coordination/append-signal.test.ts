import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import { AppendPublisher, LogHeadWatch, parseAppend } from './append-signal.js';

const flush = async () => { for (let i = 0; i < 5; i++) await Promise.resolve(); };

/** A PUBLISH that answers when the test says so. */
function fakeRedis() {
  const sent: Array<[string, string]> = [];
  const pending: Array<() => void> = [];
  return {
    sent, pending,
    publish: (channel: string, message: string) => { sent.push([channel, message]); return new Promise<number>((r) => pending.push(() => r(1))); },
  };
}

describe('append messages', () => {
  it('parseAppend: <incarnation>:<seq>, the incarnation may be empty; anything else is no message', () => {
    expect(parseAppend('abc:12')).toEqual({ incarnation: 'abc', seq: 12 });
    expect(parseAppend(':7')).toEqual({ incarnation: '', seq: 7 });
    expect(parseAppend('a:b:3')).toEqual({ incarnation: 'a:b', seq: 3 });
    for (const bad of ['', '12', 'x:', 'x:0', 'x:-1', 'x:1.5']) expect(parseAppend(bad)).toBeNull();
  });

  it('the publisher: one PUBLISH in flight and at most one a gap; appends meanwhile go out as one message naming the highest seq', async () => {
    const clock = new FakeClock();
    const redis = fakeRedis();
    let inc: string | undefined;
    const pub = new AppendPublisher(redis, 'ch', clock, () => inc, silentLogger(), 2);
    pub.appended(1);
    expect(redis.sent).toEqual([['ch', ':1']]);
    inc = 'i1';
    for (let s = 2; s <= 50; s++) pub.appended(s);
    expect(redis.sent.length).toBe(1); // in flight
    redis.pending.shift()!();
    await flush();
    expect(redis.sent.length).toBe(1); // within the gap
    clock.advance(2);
    expect(redis.sent).toEqual([['ch', ':1'], ['ch', 'i1:50']]);
    redis.pending.shift()!();
    await flush();
    clock.advance(10);
    expect(redis.sent.length).toBe(2); // nothing new: nothing sent
    pub.appended(40); // older than what a message named
    clock.advance(10);
    expect(redis.sent.length).toBe(2);
    pub.appended(51);
    expect(redis.sent.at(-1)).toEqual(['ch', 'i1:51']); // past the gap: at once
    pub.stop();
    redis.pending.shift()!();
    await flush();
    pub.appended(52);
    clock.advance(10);
    expect(redis.sent.length).toBe(3);
  });

  it('a failed PUBLISH is not retried (the coordinator\'s poll finds the write); the next append is published', async () => {
    const clock = new FakeClock();
    const sent: string[] = [];
    let fail = true;
    const pub = new AppendPublisher({ publish: (_c: string, m: string) => { sent.push(m); return fail ? Promise.reject(new Error('down')) : Promise.resolve(1); } }, 'ch', clock, () => 'i', silentLogger(), 2);
    pub.appended(5);
    await flush();
    clock.advance(5);
    expect(sent).toEqual(['i:5']);
    fail = false;
    pub.appended(6);
    await flush();
    expect(sent).toEqual(['i:5', 'i:6']);
  });
});

describe('the coordinator\'s head watch', () => {
  function setup(shipping: string | undefined = 'i1') {
    const clock = new FakeClock();
    const heads: number[] = [];
    const renewed: string[] = [];
    const store = { head: 10, incarnation: 'i1' as string | null, reads: 0, async logHeadAndIncarnation() { this.reads++; return { head: this.head, incarnation: this.incarnation }; } };
    const sub = Object.assign(new EventEmitter(), {
      status: 'ready', subscribed: [] as string[], disconnected: false,
      subscribe(ch: string) { this.subscribed.push(ch); return Promise.resolve(1); },
      disconnect() { this.disconnected = true; },
    });
    let ship: string | undefined = shipping;
    const watch = new LogHeadWatch({
      store, shipping: () => ship, clock, log: silentLogger(), onHead: (s) => heads.push(s), onRenewedElsewhere: (w) => renewed.push(w),
      subscriber: sub as never, channel: 'ch', pollMs: 100,
    });
    return { clock, heads, renewed, store, sub, watch, setShipping: (s: string | undefined) => { ship = s; } };
  }

  it('wakes the senders on a message at once; polls only every pollMs', async () => {
    const { clock, heads, store, sub, watch } = setup();
    watch.start();
    await flush();
    expect(sub.subscribed).toEqual(['ch']);
    expect(store.reads).toBe(1); // the baseline head, not reported
    expect(heads).toEqual([]);
    sub.emit('message', 'ch', 'i1:11');
    sub.emit('message', 'other', 'i1:99');
    sub.emit('message', 'ch', 'i1:11'); // nothing new
    sub.emit('message', 'ch', ':12'); // the writer does not know the incarnation: a hint of the head
    sub.emit('message', 'ch', 'garbage');
    expect(heads).toEqual([11, 12]);
    expect(store.reads).toBe(1);
    // a message lost: the poll finds the head
    store.head = 20;
    clock.advance(100);
    await flush();
    expect(store.reads).toBe(2);
    expect(heads).toEqual([11, 12, 20]);
    // the sub's reconnect subscribes again
    sub.emit('ready');
    expect(sub.subscribed).toEqual(['ch', 'ch']);
    watch.stop();
    expect(sub.disconnected).toBe(true);
    sub.emit('message', 'ch', 'i1:30');
    clock.advance(1000);
    await flush();
    expect(heads).toEqual([11, 12, 20]);
    expect(store.reads).toBe(2);
  });

  it('a message of another incarnation than the one shipped reads Redis\'s at once: renewed elsewhere, as the poll finds it', async () => {
    const { heads, renewed, store, sub, watch } = setup();
    watch.start();
    await flush();
    store.incarnation = 'i2';
    store.head = 14;
    sub.emit('message', 'ch', 'i2:14');
    await flush();
    expect(store.reads).toBe(2);
    expect(renewed.length).toBe(1);
    expect(renewed[0]).toContain('i2');
    expect(heads).toEqual([]); // the head of the new incarnation is the new baseline
    watch.stop();
  });

  it('the reads asked for while one is in flight run once after it', async () => {
    const { store, sub, watch } = setup();
    watch.start();
    await flush();
    let release: (() => void) | undefined;
    const slow = store.logHeadAndIncarnation.bind(store);
    store.logHeadAndIncarnation = async () => { await new Promise<void>((r) => { release = r; }); return slow(); };
    for (let i = 0; i < 5; i++) sub.emit('message', 'ch', `i9:${20 + i}`);
    await flush();
    release!();
    await flush();
    release!();
    await flush();
    expect(store.reads).toBe(3); // the baseline, the first asked, one for the four asked meanwhile
    watch.stop();
  });
});
