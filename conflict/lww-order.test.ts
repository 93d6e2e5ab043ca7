import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify } from './classify.js';
import { compareHlc, receiveHlc } from './hlc.js';
import { compareLww } from './order.js';
import { resolve } from './resolve.js';
import type { Hlc, RecordVersion } from './types.js';
import { bumpVv, compareVv } from './vv.js';

/*
 * lww is decided by the writes' own stamps, whatever the order in which the versions reach
 * the resolving region and whatever the order in which it resolves what it holds pending.
 *
 * A model of the resolving region's store for one key (the same rules as the apply script,
 * gateway/store/lua/applyChanges-*.lua, and the conflict worker): a version that dominates
 * the current one replaces it (and drops the pending versions it dominates); a concurrent
 * one is kept pending unless a pending version already dominates or equals it, and it
 * supersedes the pending versions it dominates; the worker resolves pending versions one at
 * a time in any order. The resolving region's clock moves forward (receive rule) and is
 * passed as `hlcFloor`, as a real region's clock would be.
 */

const NAMES = ['east', 'west', 'north'] as const;

interface Write { region: number; wallMs: number; del: boolean }
const historyArb = fc.record({
  regions: fc.integer({ min: 2, max: 3 }),
  // every region writes a chain on top of a shared base; walls may tie across regions
  writes: fc.array(fc.record({ region: fc.nat(2), wallMs: fc.integer({ min: 1, max: 40 }), del: fc.boolean() }), { minLength: 1, maxLength: 14 }),
  active: fc.nat(2),
  order: fc.array(fc.nat(1000), { minLength: 30, maxLength: 60 }),
});

function buildWrites(regions: number, writes: readonly Write[], base: RecordVersion): RecordVersion[] {
  const heads = new Map<string, RecordVersion>();
  const clocks = new Map<string, Hlc>();
  const out: RecordVersion[] = [];
  for (const [i, w] of writes.entries()) {
    const name = NAMES[w.region % regions]!;
    const prev = heads.get(name) ?? base;
    const last = clocks.get(name) ?? base.hlc;
    const wall = 1000 + w.wallMs + i; // each region's wall clock only moves forward
    const hlc: Hlc = wall > last[0] ? [wall, 0] : [last[0], last[1] + 1];
    clocks.set(name, hlc);
    const v: RecordVersion = {
      vv: bumpVv(prev.vv, name), hlc, origin: name, epoch: 1, tombstone: w.del,
      value: w.del ? new Uint8Array(0) : new TextEncoder().encode(`${name}-${i}`), contentType: 'text/plain',
    };
    heads.set(name, v);
    out.push(v);
  }
  return out;
}

class ResolvingRegion {
  current: RecordVersion;
  pending: RecordVersion[] = [];
  clock: Hlc = [0, 0];
  constructor(readonly name: string, base: RecordVersion) { this.current = base; }

  receive(v: RecordVersion): void {
    this.clock = receiveHlc(this.clock, v.hlc, 0);
    const order = compareVv(v.vv, this.current.vv);
    if (order === 'after') {
      this.current = v;
      this.pending = this.pending.filter((p) => compareVv(p.vv, v.vv) === 'concurrent');
    } else if (order === 'concurrent') {
      if (this.pending.some((p) => ['after', 'equal'].includes(compareVv(p.vv, v.vv)))) return;
      this.pending = [...this.pending.filter((p) => compareVv(v.vv, p.vv) !== 'after'), v];
    }
  }

  resolveOne(pick: number): void {
    if (this.pending.length === 0) return;
    const p = this.pending.splice(pick % this.pending.length, 1)[0]!;
    const c = classify(this.current, p);
    if (c.action === 'drop') return;
    if (c.action === 'apply') { this.current = p; return; }
    const r = resolve({
      current: this.current, incoming: p, resolver: 'lww',
      ctx: { keyspace: 'ks', key: 'k', partition: 0, region: this.name, activeRegion: this.name, hlcFloor: this.clock },
    });
    if (compareHlc(r.resolvedHlc, this.clock) > 0) this.clock = r.resolvedHlc;
    this.current = r.version;
    this.pending = this.pending.filter((q) => compareVv(q.vv, this.current.vv) === 'concurrent');
  }
}

describe('lww: the write with the highest stamp wins, in any delivery and resolution order', () => {
  it('random concurrent histories (writes and deletes), random interleavings of deliveries, duplicates and resolutions', () => {
    fc.assert(
      fc.property(historyArb, ({ regions, writes, active, order }) => {
        const base: RecordVersion = { vv: { east: 1 }, hlc: [1000, 0], origin: 'east', epoch: 1, tombstone: false, value: new TextEncoder().encode('base'), contentType: 'text/plain' };
        const all = buildWrites(regions, writes, base);
        const resolver = new ResolvingRegion(NAMES[active % regions]!, base);
        // the resolving region's own writes are in its store already (it wrote them)
        const queue = all.filter((v) => v.origin !== resolver.name);
        for (const v of all) if (v.origin === resolver.name) resolver.receive(v);
        let step = 0;
        while (queue.length > 0) {
          const n = order[step++ % order.length]! + step;
          if (n % 3 === 0) resolver.resolveOne(n);
          else {
            const i = n % queue.length;
            const v = queue[i]!;
            if (n % 5 !== 1) queue.splice(i, 1); // n % 5 === 1: delivered again later (a duplicate)
            resolver.receive(v);
          }
        }
        for (let i = 0; resolver.pending.length > 0; i++) resolver.resolveOne(order[i % order.length]!);
        const best = [base, ...all].reduce((a, b) => (compareLww(a, b) >= 0 ? a : b));
        expect([resolver.current.tombstone, new TextDecoder().decode(resolver.current.value)]).toEqual([best.tombstone, new TextDecoder().decode(best.value)]);
        // the final version dominates every write, so every region that receives it ends on it
        for (const v of all) expect(['after', 'equal']).toContain(compareVv(resolver.current.vv, v.vv));
      }),
      { numRuns: 2000 },
    );
  });

  it('A writes once, then B five times; resolved at A in any order: B\'s 5th write wins', () => {
    const base: RecordVersion = { vv: {}, hlc: [0, 0], origin: 'east', epoch: 1, tombstone: false, value: new Uint8Array(0), contentType: 'text/plain' };
    const a1: RecordVersion = { ...base, vv: { east: 1 }, hlc: [100, 0], origin: 'east', value: new TextEncoder().encode('a1') };
    const bs = [1, 2, 3, 4, 5].map((i): RecordVersion => ({ ...base, vv: { west: i }, hlc: [100 + i, 0], origin: 'west', value: new TextEncoder().encode(`b${i}`) }));
    for (const resolveEvery of [1, 2, 3, 5]) {
      const east = new ResolvingRegion('east', a1);
      east.clock = [1000, 0]; // east's clock is ahead of every write (it resolves later)
      bs.forEach((b, i) => { east.receive(b); if ((i + 1) % resolveEvery === 0) east.resolveOne(i); });
      while (east.pending.length > 0) east.resolveOne(0);
      expect(new TextDecoder().decode(east.current.value)).toBe('b5');
      expect(east.current.hlc).toEqual([105, 0]);
      expect(east.current.origin).toBe('west');
    }
  });
});
