import { describe, expect, it } from 'vitest';
import { BoundedSet, conflictLine, parseSince } from './conflicts.js';

describe('BoundedSet (the --follow dedupe window)', () => {
  it('remembers at most max ids, forgetting the oldest first', () => {
    const s = new BoundedSet(3);
    expect(['a', 'b', 'c'].map((k) => s.add(k))).toEqual([true, true, true]);
    expect(s.add('a')).toBe(false);
    expect(s.add('d')).toBe(true); // 'a' forgotten
    expect(s.size).toBe(3);
    expect(s.add('a')).toBe(true);
    expect(s.add('c')).toBe(false);
  });
});

describe('conflictLine', () => {
  const e = {
    at: String(Date.parse('2026-12-02T20:32:04.608Z')), region: 'east', keyspace: 'carts', partition: '0', key: 'c-1', type: 'key-conflict', resolver: 'lww',
    currentVersion: 'east:1', currentOrigin: 'east', currentValueBytes: '1', currentTombstone: '0',
    incomingVersion: 'west:1', incomingOrigin: 'west', incomingValueBytes: '3', incomingTombstone: '1',
  };
  it('says which side was kept and which lost', () => {
    expect(conflictLine({ ...e, winner: 'current' })).toBe('2026-12-02T20:32:04.608Z  east  carts/0/c-1  key-conflict  lww  kept current east:1 (east, 1 B), lost incoming west:1 (west, deleted)');
    expect(conflictLine({ ...e, winner: 'merged', alsoIn: ['west'] })).toMatch(/merged current east:1 \(east, 1 B\) \+ incoming west:1 \(west, deleted\) \(also in west\)$/);
  });
});

describe('parseSince', () => {
  it('ms or ISO; anything else a usage error', () => {
    expect(parseSince('1700000000000')).toBe(1700000000000);
    expect(parseSince('2026-12-02T20:00:00Z')).toBe(Date.parse('2026-12-02T20:00:00Z'));
    expect(() => parseSince('last tuesday')).toThrow(/--since must be/);
  });
});
