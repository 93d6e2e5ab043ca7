import { describe, expect, it } from 'vitest';
import { SessionSlots } from './slots.js';
import { AntiEntropyError } from './types.js';

const flush = async () => { for (let i = 0; i < 5; i++) await Promise.resolve(); };

describe('session slots per peer', () => {
  it('runs at most sessionsPerPeerMax at once per peer; other peers are not held up', async () => {
    const slots = new SessionSlots({ sessionsPerPeerMax: 2, queuePerPeerMax: 10 }, () => true);
    await slots.acquire('west');
    await slots.acquire('west');
    let third = false;
    void slots.acquire('west').then(() => { third = true; });
    await flush();
    expect(third).toBe(false);
    expect(slots.runningFor('west')).toBe(2);
    expect(slots.queuedFor('west')).toBe(1);
    await slots.acquire('south'); // its own bound
    expect(slots.runningFor('south')).toBe(1);
    slots.release('west');
    await flush();
    expect(third).toBe(true);
    expect(slots.runningFor('west')).toBe(2);
    expect(slots.queuedFor('west')).toBe(0);
  });

  it('hands freed slots to the waiters in arrival order', async () => {
    const slots = new SessionSlots({ sessionsPerPeerMax: 1, queuePerPeerMax: 10 }, () => true);
    await slots.acquire('west');
    const order: number[] = [];
    for (const i of [1, 2, 3]) void slots.acquire('west').then(() => order.push(i));
    for (let i = 0; i < 3; i++) { slots.release('west'); await flush(); }
    expect(order).toEqual([1, 2, 3]);
  });

  it('a session asking right after a release does not overtake a waiter nor run past the bound', async () => {
    const slots = new SessionSlots({ sessionsPerPeerMax: 1, queuePerPeerMax: 10 }, () => true);
    await slots.acquire('west');
    let waiter = false;
    let late = false;
    void slots.acquire('west').then(() => { waiter = true; });
    slots.release('west');
    void slots.acquire('west').then(() => { late = true; });
    await flush();
    expect(slots.runningFor('west')).toBe(1);
    expect(waiter).toBe(true);
    expect(late).toBe(false);
    expect(slots.queuedFor('west')).toBe(1);
  });

  it('at queuePerPeerMax waiting, one more fails busy at once and the queue does not grow', async () => {
    const slots = new SessionSlots({ sessionsPerPeerMax: 1, queuePerPeerMax: 3 }, () => true);
    await slots.acquire('west');
    for (let i = 0; i < 3; i++) void slots.acquire('west');
    const over = slots.acquire('west');
    await expect(over).rejects.toBeInstanceOf(AntiEntropyError);
    await expect(over).rejects.toMatchObject({ code: 'busy', peer: 'west' });
    expect(slots.queuedFor('west')).toBe(3);
  });

  it('stopping wakes every waiter with stopped, none takes a slot', async () => {
    let open = true;
    const slots = new SessionSlots({ sessionsPerPeerMax: 1, queuePerPeerMax: 10 }, () => open);
    await slots.acquire('west');
    const waiters = [slots.acquire('west'), slots.acquire('west')];
    open = false;
    slots.wakeAll();
    for (const w of waiters) await expect(w).rejects.toMatchObject({ code: 'stopped' });
    expect(slots.queuedFor('west')).toBe(0);
    expect(slots.runningFor('west')).toBe(1);
  });

  it('a slot handed to a waiter after the stop is not used and goes back', async () => {
    let open = true;
    const slots = new SessionSlots({ sessionsPerPeerMax: 1, queuePerPeerMax: 10 }, () => open);
    await slots.acquire('west');
    const waiter = slots.acquire('west');
    open = false;
    slots.release('west');
    await expect(waiter).rejects.toMatchObject({ code: 'stopped' });
    expect(slots.runningFor('west')).toBe(0);
  });

  it('a release without a session running never goes below zero', () => {
    const slots = new SessionSlots({ sessionsPerPeerMax: 1, queuePerPeerMax: 1 }, () => true);
    slots.release('west');
    expect(slots.runningFor('west')).toBe(0);
  });
});
