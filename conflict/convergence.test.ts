import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify } from './classify.js';
import { compareHlc, receiveHlc, tickHlc } from './hlc.js';
import { decodeJson, encodeJson, isJsonObject } from './json.js';
import { type Resolution, resolve } from './resolve.js';
import { EMPTY_COUNTER, addToCounter, encodeCounter, parseCounter } from './resolvers/counter.js';
import type { Hlc, RecordVersion } from './types.js';
import { bumpVv, compareVv } from './vv.js';

/*
 * A pure model of N regions replicating keys to each other, checking that classify + resolve
 * make every region converge and journal every conflict exactly once.
 *
 * Design: resolution happens at ONE designated region per key (the partition's active
 * region) and its result is shipped like any other change. Any other region that receives
 * a version concurrent with its own keeps it *pending* beside its current version (reads
 * still serve the current one) until a version dominating both arrives: sooner or later
 * the active region's resolution.
 *
 * Why not let every region resolve on its own? A resolution bumps the resolving region's
 * counter, so two regions resolving the same pair write two new versions that are
 * concurrent with each other and conflict again, forever. Even stamping the same region
 * everywhere is not enough: regions meet concurrent versions in different groupings
 * (R(R(a,b),c) at one, R(R(a,c),b) at another), which agree only for resolvers that are
 * semilattice joins (counter, union sets). lww between fresh resolution stamps, 3-way set
 * merges and json-merge are not. Designated resolution needs only determinism, and gives
 * one journal entry per conflict for free.
 */

const NAMES = ['east', 'west', 'north'];
const RESOLVERS = ['lww', 'source-wins', 'counter', 'set', 'json-merge'] as const;
const KEYS = 3;

interface Slot { current: RecordVersion; pending: RecordVersion[] }
interface Region { name: string; skewMs: number; hlc: Hlc; slots: Map<string, Slot> }
interface Change { key: string; version: RecordVersion }

type Op = { kind: 'write'; region: number; key: number; action: number } | { kind: 'deliver'; link: number; pick: number; dup: boolean };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), region: fc.nat(2), key: fc.nat(KEYS - 1), action: fc.nat(9) }),
  fc.record({ kind: fc.constant('deliver' as const), link: fc.nat(5), pick: fc.nat(20), dup: fc.boolean() }),
);

class Cluster {
  readonly regions: Region[];
  readonly links = new Map<string, Change[]>(); // "from>to" → changes in flight
  readonly delivered: [Region, Change][] = [];
  readonly writes: Change[] = [];
  readonly resolutions: { key: string; res: Resolution; inputs: RecordVersion[] }[] = [];
  nowMs = 1000;

  constructor(n: number, readonly resolvers: readonly string[]) {
    this.regions = NAMES.slice(0, n).map((name, i) => ({ name, skewMs: [0, -7, 5][i] ?? 0, hlc: [0, 0], slots: new Map() }));
    for (const a of this.regions) for (const b of this.regions) if (a !== b) this.links.set(`${a.name}>${b.name}`, []);
  }

  active(key: string): Region { return this.regions[Number(key.slice(1)) % this.regions.length]!; }
  resolverOf(key: string): string { return this.resolvers[Number(key.slice(1))]!; }

  ship(from: Region, change: Change): void {
    for (const to of this.regions) if (to !== from) this.links.get(`${from.name}>${to.name}`)!.push(change);
  }

  write(r: Region, key: string, action: number): void {
    const slot = r.slots.get(key);
    r.hlc = tickHlc(r.hlc, this.nowMs + r.skewMs);
    const tombstone = action === 0;
    const value = tombstone ? new Uint8Array(0) : nextValue(this.resolverOf(key), slot?.current, r.name, action, this.writes.length);
    const version: RecordVersion = { vv: bumpVv(slot?.current.vv ?? {}, r.name), hlc: r.hlc, origin: r.name, epoch: 1, tombstone, value, contentType: 'application/json' };
    r.slots.set(key, { current: version, pending: slot?.pending ?? [] });
    for (const p of slot?.pending ?? []) expect(compareVv(p.vv, version.vv)).toBe('concurrent');
    this.writes.push({ key, version });
    this.ship(r, { key, version });
  }

  receive(r: Region, change: Change): void {
    const { key, version: v } = change;
    r.hlc = receiveHlc(r.hlc, v.hlc, this.nowMs + r.skewMs);
    const slot = r.slots.get(key);
    const c = classify(slot?.current, v);
    if (c.action === 'drop') return;
    if (c.action === 'apply') {
      r.slots.set(key, { current: v, pending: (slot?.pending ?? []).filter((p) => compareVv(p.vv, v.vv) === 'concurrent') });
      return;
    }
    const s = slot!;
    if (r === this.active(key)) {
      expect(s.pending).toEqual([]); // the active region resolves at once, never holds a pair
      const ctx = { keyspace: 'ks', key, partition: 0, region: r.name, activeRegion: r.name, hlcFloor: r.hlc };
      const res = resolve({ current: s.current, incoming: v, resolver: this.resolverOf(key), ctx });
      if (compareHlc(res.version.hlc, r.hlc) > 0) r.hlc = res.version.hlc;
      this.resolutions.push({ key, res, inputs: [s.current, v] });
      s.current = res.version;
      this.ship(r, { key, version: res.version });
    } else if (!s.pending.some((p) => ['equal', 'after'].includes(compareVv(p.vv, v.vv)))) {
      s.pending = [...s.pending.filter((p) => compareVv(p.vv, v.vv) !== 'before'), v];
    }
  }

  deliver(link: string, index: number, dup: boolean): void {
    const queue = this.links.get(link)!;
    const change = queue[index % queue.length]!;
    if (!dup) queue.splice(index % queue.length, 1);
    const to = this.regions.find((r) => r.name === link.split('>')[1])!;
    this.delivered.push([to, change]);
    this.receive(to, change);
  }

  run(ops: readonly Op[], flushOrder: readonly number[]): void {
    const links = [...this.links.keys()];
    for (const op of ops) {
      this.nowMs += 3;
      if (op.kind === 'write') this.write(this.regions[op.region % this.regions.length]!, `k${op.key}`, op.action);
      else if (this.links.get(links[op.link % links.length]!)!.length > 0) this.deliver(links[op.link % links.length]!, op.pick, op.dup);
    }
    for (let step = 0; ; step++) {
      const busy = links.filter((l) => this.links.get(l)!.length > 0);
      if (busy.length === 0) break;
      expect(step).toBeLessThan(100_000); // bounded: each delivery creates at most one change
      this.nowMs += 1;
      const seed = flushOrder.length === 0 ? step : flushOrder[step % flushOrder.length]! + step;
      this.deliver(busy[seed % busy.length]!, seed, false);
    }
  }
}

/** A local write's value for the key's resolver (value 9 writes garbage to exercise fallbacks). */
function nextValue(resolver: string, current: RecordVersion | undefined, region: string, action: number, seq: number): Uint8Array {
  if (action === 9) return new TextEncoder().encode('not json');
  const live = current && !current.tombstone ? current.value : undefined;
  if (resolver === 'counter') return encodeCounter(addToCounter((live && parseCounter(live)) ?? EMPTY_COUNTER, region, action % 2 ? 1 : -1));
  const doc = live && decodeJson(live);
  if (resolver === 'set') {
    const set = Array.isArray(doc) ? doc : [];
    return encodeJson(action % 3 === 0 ? set.slice(1) : [...set, `${region}${seq}`]);
  }
  const obj = isJsonObject(doc) ? doc : {};
  return encodeJson({ ...obj, [`f${action % 3}`]: `${region}${seq}` });
}

const sameVersion = (a: RecordVersion, b: RecordVersion) => expect(a).toEqual(b);

describe('convergence model', () => {
  it('every region ends identical, each conflict journaled exactly once, no write silently lost', () => {
    const resolversArb = fc.tuple(...Array.from({ length: KEYS }, () => fc.constantFrom(...RESOLVERS)));
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3 }), resolversArb, fc.array(opArb, { maxLength: 80 }), fc.array(fc.nat(50), { maxLength: 10 }), (n, resolvers, ops, flush) => {
        const cluster = new Cluster(n, resolvers);
        cluster.run(ops, flush);
        const journal = cluster.resolutions.filter((r) => r.res.journal);

        // Duplicate every delivery once more, in reverse: nothing may change.
        const before = { resolutions: cluster.resolutions.length, state: JSON.stringify(cluster.regions.map((r) => [...r.slots])) };
        for (const [to, change] of [...cluster.delivered].reverse()) cluster.receive(to, change);
        expect(cluster.resolutions.length).toBe(before.resolutions);
        expect(JSON.stringify(cluster.regions.map((r) => [...r.slots]))).toBe(before.state);

        for (let k = 0; k < KEYS; k++) {
          const key = `k${k}`;
          const slots = cluster.regions.map((r) => r.slots.get(key));
          if (slots[0] === undefined) { expect(slots.every((s) => s === undefined)).toBe(true); continue; }
          for (const s of slots) { expect(s!.pending).toEqual([]); sameVersion(s!.current, slots[0].current); }
          const final = slots[0].current;
          // Every acknowledged write is the final state, overwritten by a write that saw it,
          // or an input of a recorded resolution.
          for (const w of cluster.writes.filter((c) => c.key === key)) {
            const accounted =
              compareVv(w.version.vv, final.vv) === 'equal' ||
              cluster.writes.some((o) => o.key === key && compareVv(w.version.vv, o.version.vv) === 'before') ||
              cluster.resolutions.some((r) => r.key === key && r.inputs.some((i) => compareVv(i.vv, w.version.vv) === 'equal'));
            expect(accounted).toBe(true);
          }
        }
        const ids = journal.map((r) => r.res.conflictId);
        expect(new Set(ids).size).toBe(ids.length);
      }),
      { numRuns: 400 },
    );
  });

  it('the model does meet conflicts (the property above is not vacuous)', () => {
    const cluster = new Cluster(3, ['lww', 'counter', 'set']);
    const ops: Op[] = [0, 1, 2].flatMap((region) => [0, 1, 2].map((key) => ({ kind: 'write' as const, region, key, action: 1 })));
    cluster.run(ops, []);
    expect(cluster.resolutions.filter((r) => r.res.journal).length).toBeGreaterThanOrEqual(KEYS);
    expect(cluster.resolutions.map((r) => r.res.type)).toContain('key-conflict');
    const counter = parseCounter(cluster.regions[0]!.slots.get('k1')!.current.value)!;
    expect(counter.p).toEqual({ east: 1, west: 1, north: 1 }); // no increment lost
  });
});
