import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import { RollbackGuard, type BootLogState } from '../rollback-guard.js';
import { RegionCheck } from './region-check.js';

function fixture(boot: BootLogState) {
  const clock = new FakeClock();
  const rollbacks: string[] = [];
  const unchecked: string[][] = [];
  const guard = new RollbackGuard({
    peers: ['west'], clock, checkWaitMs: 6000, log: silentLogger(),
    onRollback: (why) => rollbacks.push(why), onUncheckedOpen: (p) => unchecked.push([...p]),
  });
  guard.booted(boot);
  const s = { coordinator: false, board: false };
  const check = new RegionCheck({ guard, isCoordinator: () => s.coordinator, boardSaysChecked: () => s.board, log: silentLogger() });
  return { clock, guard, check, s, rollbacks, unchecked };
}

describe('RegionCheck (several instances per region)', () => {
  it('an instance that is not the coordinator, booted without the clean-stop mark, waits for the board, never opens unchecked', () => {
    const { clock, check, s, unchecked } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    expect(check.pending()).toBe(true);
    clock.advance(60_000); // far past the guard's wait
    expect(check.pending()).toBe(true);
    expect(unchecked).toEqual([]);
    s.board = true;
    expect(check.pending()).toBe(false);
    s.board = false; // the board goes stale later: the store stays known watched
    expect(check.pending()).toBe(false);
    expect(unchecked).toEqual([]);
  });

  it('a boot that found the clean-stop mark needs no board', () => {
    const { check } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: true });
    expect(check.pending()).toBe(false);
    expect(check.known()).toBe(true);
  });

  it('a term begun once the store was known watched compares nothing with the stale boot head', async () => {
    const { check, guard, s, rollbacks } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    s.board = true;
    expect(check.pending()).toBe(false);
    let read = 0;
    await check.beginTerm(async () => { read++; return { headSeq: 50, incarnation: 'i1', cleanStop: false }; });
    s.coordinator = true;
    expect(read).toBe(0);
    expect(check.pending()).toBe(false);
    // the peer holds what the region wrote since this instance booted (above its boot head 10)
    guard.onCursor({ peer: 'west', cursor: 40, lastSeq: 60, ownIncarnation: 'i1' });
    expect(rollbacks).toEqual([]);
    // a cursor above the log's end is still a rollback
    guard.onCursor({ peer: 'west', cursor: 70, lastSeq: 60, ownIncarnation: 'i1' });
    expect(rollbacks).toHaveLength(1);
  });

  it('a term without a known check compares the cursors with the log as read at the takeover, and only the coordinator opens unchecked', async () => {
    const { clock, check, guard, s, rollbacks, unchecked } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    clock.advance(10_000);
    await check.beginTerm(async () => ({ headSeq: 20, incarnation: 'i1', cleanStop: false }));
    s.coordinator = true;
    expect(check.pending()).toBe(true); // the wait counts from the takeover
    guard.onCursor({ peer: 'west', cursor: 25, lastSeq: 30, ownIncarnation: 'i1' });
    expect(rollbacks).toHaveLength(1); // above the takeover's head
    expect(check.pending()).toBe(false);

    const b = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    await b.check.beginTerm(async () => ({ headSeq: 20, incarnation: 'i1', cleanStop: false }));
    b.s.coordinator = true;
    b.guard.onCursor({ peer: 'west', cursor: 18, lastSeq: 20, ownIncarnation: 'i1' });
    expect(b.check.pending()).toBe(false);
    expect(b.rollbacks).toEqual([]);

    const c = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    await c.check.beginTerm(async () => ({ headSeq: 20, incarnation: 'i1', cleanStop: false }));
    c.s.coordinator = true;
    c.clock.advance(6000);
    expect(c.check.pending()).toBe(false);
    expect(c.unchecked).toEqual([['west']]);
    expect(unchecked).toEqual([]);
  });

  it('a term after a clean-stop boot compares nothing', async () => {
    const { check, guard, s, rollbacks } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: true });
    let read = 0;
    await check.beginTerm(async () => { read++; return { headSeq: 10, incarnation: 'i1', cleanStop: false }; });
    s.coordinator = true;
    expect(read).toBe(0);
    expect(check.pending()).toBe(false);
    guard.onCursor({ peer: 'west', cursor: 30, lastSeq: 40, ownIncarnation: 'i1' });
    expect(rollbacks).toEqual([]);
  });
});
