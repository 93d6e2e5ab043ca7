import { describe, expect, it } from 'vitest';
import { LeaseLossTracker, type LeaseLoss } from './lease-loss.js';

function setup() {
  const lost: LeaseLoss[] = [];
  return { lost, t: new LeaseLossTracker((l) => lost.push(l)) };
}

describe('LeaseLossTracker', () => {
  it('renewed in time: nothing lost', () => {
    const { t, lost } = setup();
    for (let now = 0; now < 10_000; now += 500) {
      t.renewed('orders/1', 3, now + 2000, now);
      t.sweep(now + 1);
    }
    expect(lost).toEqual([]);
    expect(t.heldCount()).toBe(1);
  });

  it('a lease that ends without renewal counts once as expired, at the sweep', () => {
    const { t, lost } = setup();
    t.renewed('orders/1', 3, 2000, 0);
    t.sweep(1999);
    expect(lost).toEqual([]);
    t.sweep(2500);
    t.sweep(3000);
    expect(lost).toEqual([{ partition: 'orders/1', epoch: 3, reason: 'expired', endedMsAgo: 500 }]);
    t.ownerChanged('orders/1', false, 4000); // the failover learnt afterwards: no second count
    expect(lost).toHaveLength(1);
  });

  it('a lapse renewed before any sweep still counts', () => {
    const { t, lost } = setup();
    t.renewed('orders/1', 3, 2000, 0);
    t.renewed('orders/1', 3, 5000, 3000);
    expect(lost.map((l) => l.reason)).toEqual(['expired']);
  });

  it('moved to another region under a running lease: taken-over; after its end: expired', () => {
    const { t, lost } = setup();
    t.renewed('orders/1', 3, 2000, 0);
    t.renewed('orders/2', 3, 2000, 0);
    t.ownerChanged('orders/1', false, 1000);
    t.ownerChanged('orders/2', false, 2100);
    expect(lost.map((l) => [l.partition, l.reason])).toEqual([['orders/1', 'taken-over'], ['orders/2', 'expired']]);
  });

  it('a handover (released) and an owner change to this region are no loss', () => {
    const { t, lost } = setup();
    t.renewed('orders/1', 3, 2000, 0);
    t.released('orders/1');
    t.sweep(5000);
    t.ownerChanged('orders/1', false, 5000);
    t.renewed('orders/2', 1, 2000, 0);
    t.ownerChanged('orders/2', true, 1000);
    expect(lost).toEqual([]);
  });
});
