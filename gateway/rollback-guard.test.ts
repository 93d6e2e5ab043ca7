import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { RollbackGuard } from './rollback-guard.js';

function guard(peers = ['east', 'north']) {
  const clock = new FakeClock();
  const rollbacks: string[] = [];
  const unchecked: string[][] = [];
  const g = new RollbackGuard({
    peers, clock, checkWaitMs: 6000, log: silentLogger(),
    onRollback: (why) => rollbacks.push(why), onUncheckedOpen: (p) => unchecked.push([...p]),
  });
  return { g, clock, rollbacks, unchecked };
}

describe('RollbackGuard', () => {
  it('after a clean stop nothing waits and cursors at or below the head are fine', () => {
    const { g, rollbacks } = guard();
    expect(g.pending()).toBe(true); // boot state not read yet
    g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: true });
    expect(g.pending()).toBe(false);
    g.onCursor({ peer: 'east', cursor: 100, ownIncarnation: 'i1' });
    expect(rollbacks).toEqual([]);
  });

  it('an unclean boot waits until every peer\'s cursor was compared with the boot head', () => {
    const { g, rollbacks } = guard();
    g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: false });
    expect(g.pending()).toBe(true);
    g.onCursor({ peer: 'east', cursor: 100, ownIncarnation: 'i1' });
    expect(g.pending()).toBe(true);
    g.onCursor({ peer: 'north', cursor: 40, ownIncarnation: 'i1' });
    expect(g.pending()).toBe(false);
    expect(rollbacks).toEqual([]);
  });

  it('a cursor above the boot head is a rollback, even once writes passed it; once per incarnation', () => {
    const { g, rollbacks, clock } = guard();
    g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: false });
    clock.advance(7000);
    expect(g.pending()).toBe(false); // opened unchecked; the late peer is still compared
    g.onCursor({ peer: 'east', cursor: 130, ownIncarnation: 'i1' }); // our head may be 200 by now
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatch(/east acknowledged seq 130 .* held 100 at boot/);
    g.onCursor({ peer: 'north', cursor: 130, ownIncarnation: 'i1', lastSeq: 100 });
    expect(rollbacks).toHaveLength(1);
    g.onCursor({ peer: 'north', cursor: 0, ownIncarnation: 'i2' }); // the new incarnation
    expect(rollbacks).toHaveLength(1);
  });

  it('a peer compared at its first link after boot is not compared with the boot head again: its later links carry writes made since', () => {
    const { g, rollbacks } = guard(['east']);
    g.booted({ headSeq: 233, incarnation: 'i1', cleanStop: false });
    g.onCursor({ peer: 'east', cursor: 233, ownIncarnation: 'i1' }); // compared: writes open
    expect(g.pending()).toBe(false);
    // the link drops and comes back (a WAN cut); east acknowledged what west wrote meanwhile
    g.onCursor({ peer: 'east', cursor: 1736, ownIncarnation: 'i1', lastSeq: 1800 });
    expect(rollbacks).toEqual([]);
    // a cursor above the log's last seq is still a rollback
    g.onCursor({ peer: 'east', cursor: 1900, ownIncarnation: 'i1', lastSeq: 1800 });
    expect(rollbacks).toHaveLength(1);
  });

  it('a cursor above the log\'s last seq is a rollback whatever the boot was', () => {
    const { g, rollbacks } = guard();
    g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: true });
    g.onCursor({ peer: 'east', cursor: 120, ownIncarnation: 'i1', lastSeq: 100 });
    expect(rollbacks).toHaveLength(1);
  });

  it('writes open after checkWaitMs with the unchecked peers named (the floor is raised there)', () => {
    const { g, clock, unchecked } = guard();
    g.booted({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    g.onCursor({ peer: 'east', cursor: 10, ownIncarnation: 'i1' });
    clock.advance(5999);
    expect(g.pending()).toBe(true);
    clock.advance(1);
    expect(g.pending()).toBe(false);
    expect(unchecked).toEqual([['north']]);
    expect(g.pending()).toBe(false);
    expect(unchecked).toHaveLength(1);
  });

  it('an empty store (no incarnation yet) is left to the bootstrap; no peers: nothing to compare', () => {
    const a = guard();
    a.g.booted({ headSeq: 0, incarnation: null, cleanStop: false });
    expect(a.g.pending()).toBe(false);
    const b = guard([]);
    expect(b.g.pending()).toBe(false);
  });
});

describe('RollbackGuard before the boot state is read', () => {
  it('compares cursors reported before the read (Redis answered late) once it is read', () => {
    const { g, rollbacks } = guard(['east']);
    g.onCursor({ peer: 'east', cursor: 130, ownIncarnation: 'i1' });
    expect(rollbacks).toEqual([]);
    g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: false });
    expect(rollbacks).toHaveLength(1);
    expect(g.pending()).toBe(false);
  });

  it('an early report of a cursor above the log counts after a clean boot too; an early fine cursor checks its peer', () => {
    const a = guard(['east']);
    a.g.onCursor({ peer: 'east', cursor: 130, ownIncarnation: 'i1', lastSeq: 100 });
    a.g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: true });
    expect(a.rollbacks).toHaveLength(1);
    const b = guard(['east']);
    b.g.onCursor({ peer: 'east', cursor: 90, ownIncarnation: 'i1' });
    b.g.booted({ headSeq: 100, incarnation: 'i1', cleanStop: false });
    expect(b.g.pending()).toBe(false);
    expect(b.rollbacks).toEqual([]);
  });
});
