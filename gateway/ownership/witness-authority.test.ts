import { describe, expect, it } from 'vitest';
import { ownersShownBy } from './witness-authority.js';

describe('ownersShownBy (owners learnt from a peer\'s confirm request)', () => {
  const known = new Map([['orders/0', { owner: 'west', epoch: 3 }], ['orders/1', { owner: 'east', epoch: 2 }], ['orders/2', { owner: 'west', epoch: 5 }]]);
  const lookup = (ks: string, p: number) => known.get(`${ks}/${p}`);

  it('takes the partitions the peer claims at the epoch known, nothing else', () => {
    const req = { from: 'west', items: [
      { keyspace: 'orders', partition: 0, epoch: 3 }, // its own, epoch known: learnt
      { keyspace: 'orders', partition: 1, epoch: 2 }, // east's: not what west can show
      { keyspace: 'orders', partition: 2, epoch: 4 }, // an older epoch than known
    ] };
    expect(ownersShownBy(req, lookup)).toEqual(['orders/0']);
  });

  it('skips partitions this region does not have instead of throwing', () => {
    const req = { from: 'west', items: [{ keyspace: 'nope', partition: 0, epoch: 1 }, { keyspace: 'orders', partition: 99, epoch: 1 }, { keyspace: 'orders', partition: 0, epoch: 3 }] };
    expect(ownersShownBy(req, lookup)).toEqual(['orders/0']);
  });
});
