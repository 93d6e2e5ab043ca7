import { describe, expect, it } from 'vitest';
import { ranges, RANGES_CHARS_MAX, renderStatus, statusProblems, table, type ClusterBody } from './status-view.js';

const partitions = (n: number, owner: (p: number) => string | null, state = 'active') => Array.from({ length: n }, (_, p) => ({ partition: p, active: owner(p), state }));
const status = (region: string, extra: Record<string, unknown> = {}) => ({
  region, cluster: 'c1', store: { ok: true }, bootstrap: { state: 'done', writesOpen: true },
  keyspaces: [{ name: 'orders', writes: 'single-master', onSplit: 'fence', partitions: partitions(8, (p) => (p % 2 ? 'west' : 'east')) }],
  peers: [{ region: region === 'east' ? 'west' : 'east', state: 'up', linkState: 'established', lagMs: 0, lagEntries: 0, heartbeatAgeMs: 12.3, needsRepair: false }],
  ownership: { leased: 4, diverged: [], witness: 'http://w', witnessReachable: true }, conflicts: { pending: 0 }, ...extra,
});

describe('ranges', () => {
  it('compresses runs and cuts before the width bound', () => {
    expect(ranges([5, 0, 1, 2, 3, 7, 8, 9])).toBe('0-3,5,7-9');
    expect(ranges([])).toBe('');
    const long = ranges(Array.from({ length: 4096 }, (_, i) => i * 2));
    expect(long.length).toBeLessThanOrEqual(RANGES_CHARS_MAX + 2);
    expect(long.endsWith(',…')).toBe(true);
  });
});

describe('table', () => {
  it('pads columns to the widest cell, no trailing spaces', () => {
    expect(table(['A', 'BB'], [['xxx', 'y'], ['z', '']])).toEqual(['A    BB', 'xxx  y', 'z']);
  });
});

describe('renderStatus and statusProblems', () => {
  it('a healthy cluster: one row per region, one link row per direction, no problems', () => {
    const body: ClusterBody = { region: 'east', regions: [{ region: 'east', url: 'http://e', ok: true, ms: 0.4, status: status('east') }, { region: 'west', url: 'http://w', ok: true, ms: 3, status: status('west') }] };
    const text = renderStatus(body, { partitions: true }).join('\n');
    expect(text).toMatch(/^east\s+0\.4 ms\s+ok\s+done\s+4\s+0\s+0\s+reachable$/m);
    expect(text).toMatch(/^west → east\s+up\s+established\s+unknown\s+12\.3 ms\s+0 entries \/ 0\.0 ms\s+no$/m);
    expect(text).toMatch(/^ {4}east: 4 \[0,2,4,6\]$/m);
    expect(statusProblems(body)).toEqual([]);
  });

  it('names every problem: a region that did not answer, Redis down, writes closed, link down, needs repair, diverged', () => {
    const sick = status('east', {
      store: { ok: false, error: 'connect ECONNREFUSED' }, bootstrap: { state: 'pending', writesOpen: false },
      peers: [{ region: 'west', state: 'down', linkState: 'backoff', needsRepair: true }],
      keyspaces: [{ name: 'carts', writes: 'multi-master', onSplit: 'diverge', partitions: partitions(4, () => null, 'diverged') }],
    });
    const body: ClusterBody = { region: 'east', regions: [{ region: 'east', url: 'http://e', ok: true, ms: 1, status: sick }, { region: 'west', url: 'http://w', ok: false, error: 'timeout after 1000 ms' }] };
    expect(statusProblems(body)).toEqual([
      'east: its Redis does not answer (connect ECONNREFUSED)',
      'east: writes not open yet (bootstrap pending)',
      'east → west: link down',
      'east → west: needs repair',
      'east: 4 diverged partitions',
      'west did not answer at http://w: timeout after 1000 ms',
    ]);
    const text = renderStatus(body, { partitions: true }).join('\n');
    expect(text).toMatch(/^east\s+1\.0 ms\s+DOWN\s+pending \(writes closed\)\s+4\s+4\s+0\s+reachable$/m);
    expect(text).toMatch(/^ {4}unknown: 4 \[0-3\]$/m); // owner not learnt: unknown, not a guess
    expect(text).toMatch(/^ {2}west did not answer at http:\/\/w: timeout after 1000 ms$/m);
  });

  it('unknown for what a region does not report; static ownership counts the partitions it is active for', () => {
    const bare = { region: 'east', store: { ok: true }, keyspaces: [{ name: 'k', partitions: partitions(4, () => 'east') }], ownership: { mode: 'static (no witness)' } };
    const text = renderStatus({ region: 'east', regions: [{ region: 'east', url: 'http://e', ok: true, ms: 1, status: bare }] }, { partitions: false }).join('\n');
    expect(text).toMatch(/^east\s+1\.0 ms\s+ok\s+unknown\s+4 \(static\)\s+0\s+unknown\s+none$/m);
  });
});

describe('instances of a region (coordination)', () => {
  it('lists each instance with the coordinator marked; a region with one instance shows none', () => {
    const coordination = {
      id: 'east-1', role: 'instance', token: null, coordinator: { id: 'east-0', url: 'http://e0', token: 7 }, takeovers: 0,
      instances: [{ id: 'east-0', url: 'http://e0', seenMsAgo: 120 }, { id: 'east-1', url: 'http://e1', seenMsAgo: 30 }],
    };
    const body: ClusterBody = { region: 'east', regions: [{ region: 'east', url: 'http://e1', ok: true, ms: 1, status: status('east', { coordination }) }, { region: 'west', url: 'http://w', ok: true, ms: 3, status: status('west') }] };
    const lines = renderStatus(body, { partitions: false });
    const at = lines.findIndex((l) => l.startsWith('REGION') && l.includes('INSTANCE'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^east\s+east-0\s+coordinator\s+http:\/\/e0\s+120 ms$/);
    expect(lines[at + 2]).toMatch(/^east\s+east-1\s+instance\s+http:\/\/e1\s+30.0 ms$/);
    expect(lines[at + 3]).toBe(''); // west (one instance) has no rows
  });
});
