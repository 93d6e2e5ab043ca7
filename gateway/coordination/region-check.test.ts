import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { FakeClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import { RollbackGuard, type BootLogState } from '../rollback-guard.js';
import { BootstrapGate } from '../bootstrap-gate.js';
import type { WriteAuthority } from '../authority.js';
import type { KeyspaceConfig } from '../config.js';
import { RegionCheck, TermCheckedGate } from './region-check.js';

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

describe('RegionCheck (several instances per region, per coordinator term)', () => {
  it('an instance that is not the coordinator writes only while a live board says the current term\'s check ended; it never opens unchecked', () => {
    const { clock, check, s, unchecked } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    expect(check.pending()).toBe(true);
    clock.advance(60_000); // far past the guard's wait
    expect(check.pending()).toBe(true);
    expect(unchecked).toEqual([]);
    s.board = true;
    expect(check.pending()).toBe(false);
    // the board goes stale (the coordinator died, perhaps with its Redis master): nothing is latched
    s.board = false;
    expect(check.pending()).toBe(true);
    expect(unchecked).toEqual([]);
  });

  it('a boot that found the clean-stop mark opens nothing by itself: the coordinator\'s word does', () => {
    const { check, s } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: true });
    expect(check.pending()).toBe(true);
    s.board = true;
    expect(check.pending()).toBe(false);
  });

  it('every term compares the peers\' first cursors with the log read at its takeover, also after the store was watched', async () => {
    const { check, guard, s, rollbacks } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    s.board = true;
    expect(check.pending()).toBe(false);
    // the coordinator and its Redis master died; the promoted replica holds seqs up to 50
    let read = 0;
    await check.beginTerm(async () => { read++; return { headSeq: 50, incarnation: 'i1', cleanStop: false }; });
    s.coordinator = true;
    s.board = false;
    expect(read).toBe(1);
    expect(check.pending()).toBe(true); // the term's writes wait for the comparison
    // west holds 54 of the log (shipped by the coordinator that died): a rollback
    guard.onCursor({ peer: 'west', cursor: 54, lastSeq: 60, ownIncarnation: 'i1' });
    expect(rollbacks).toHaveLength(1);
    expect(check.pending()).toBe(false);
  });

  it('a term whose first cursors are within the log at the takeover opens without a rollback; the next term compares again', async () => {
    const { check, guard, s, rollbacks } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    await check.beginTerm(async () => ({ headSeq: 20, incarnation: 'i1', cleanStop: false }));
    s.coordinator = true;
    guard.onCursor({ peer: 'west', cursor: 18, lastSeq: 20, ownIncarnation: 'i1' });
    expect(check.pending()).toBe(false);
    // the peer's later links carry what was written since: no comparison with the takeover head
    guard.onCursor({ peer: 'west', cursor: 30, lastSeq: 40, ownIncarnation: 'i1' });
    expect(rollbacks).toEqual([]);
    // demoted, then coordinator again: a new term
    s.coordinator = false;
    await check.beginTerm(async () => ({ headSeq: 40, incarnation: 'i1', cleanStop: false }));
    s.coordinator = true;
    expect(check.pending()).toBe(true);
    guard.onCursor({ peer: 'west', cursor: 40, lastSeq: 40, ownIncarnation: 'i1' });
    expect(check.pending()).toBe(false);
    expect(rollbacks).toEqual([]);
  });

  it('a term that found the clean-stop mark at its takeover compares nothing', async () => {
    const { check, guard, s, rollbacks } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    await check.beginTerm(async () => ({ headSeq: 10, incarnation: 'i1', cleanStop: true }));
    s.coordinator = true;
    expect(check.pending()).toBe(false);
    guard.onCursor({ peer: 'west', cursor: 10, lastSeq: 10, ownIncarnation: 'i1' });
    expect(rollbacks).toEqual([]);
  });

  it('only the coordinator opens unchecked, after the guard\'s wait from its takeover', async () => {
    const { clock, check, s, unchecked } = fixture({ headSeq: 10, incarnation: 'i1', cleanStop: false });
    clock.advance(10_000);
    await check.beginTerm(async () => ({ headSeq: 20, incarnation: 'i1', cleanStop: false }));
    s.coordinator = true;
    expect(check.pending()).toBe(true); // the wait counts from the takeover
    clock.advance(6000);
    expect(check.pending()).toBe(false);
    expect(unchecked).toEqual([['west']]);
  });
});

describe('TermCheckedGate', () => {
  const ks = { name: 'carts' } as KeyspaceConfig;
  const local: WriteAuthority = {
    check: () => ({ kind: 'local', epoch: 0, fenced: false }), activeRegion: () => 'east', partitionState: () => 'active', mayResolve: () => true,
  };

  it('closes a gate that latched open while the term\'s check is pending, and opens it again after', () => {
    const clock = new FakeClock();
    let pending = false;
    const gate = new BootstrapGate(local, { clock, waitMs: 30_000, log: silentLogger(), registry: new Registry(), state: () => 'none' });
    const checked = new TermCheckedGate(gate, { pending: () => pending });
    expect(checked.check(ks, 0).kind).toBe('local');
    expect(checked.isOpen()).toBe(true);
    pending = true; // a new coordinator term
    expect(gate.isOpen()).toBe(true); // latched
    expect(checked.check(ks, 0)).toMatchObject({ kind: 'unavailable', code: 'bootstrapping' });
    expect(checked.isOpen()).toBe(false);
    expect(checked.status().writesOpen).toBe(false);
    expect(checked.partitionState(ks, 0)).toBe('bootstrapping');
    expect(checked.mayResolve(ks, 0)).toBe(true);
    pending = false;
    expect(checked.check(ks, 0).kind).toBe('local');
  });
});
