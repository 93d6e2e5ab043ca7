import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareHlc } from './hlc.js';
import { canonicalJson, decodeJson } from './json.js';
import { type MergeContext, resolve } from './resolve.js';
import type { TriggerFn, TriggerRegistry } from './triggers.js';
import type { RecordVersion, VersionVector } from './types.js';
import { compareVv } from './vv.js';

const REGIONS = ['east', 'west', 'north'] as const;
const RESOLVERS = ['lww', 'source-wins', 'counter', 'set', 'json-merge', 'trigger:sym', 'trigger:asym', 'trigger:throws', 'trigger:missing'];
const enc = (s: string) => new TextEncoder().encode(s);

/** A symmetric trigger: keeps the smaller canonical value, one webhook naming both origins. */
const sym: TriggerFn = ({ current, incoming }) => {
  if (current.tombstone || incoming.tombstone) return { delete: true };
  const [a, b] = [current, incoming].map((s) => (s.json === undefined ? `bytes:${s.value.join(',')}` : canonicalJson(s.json))).sort();
  const origins = [current.origin, incoming.origin].sort();
  return { value: a as string, contentType: 'text/plain', actions: [{ kind: 'webhook', url: 'https://h.example/c', body: { origins, other: b } }] };
};
const triggers: TriggerRegistry = new Map<string, TriggerFn>([
  ['sym', sym],
  ['asym', ({ current }) => ({ value: current.value })],
  ['throws', () => { throw new Error('no'); }],
]);

const vvArb: fc.Arbitrary<VersionVector> = fc.record({ east: fc.nat(3), west: fc.nat(3), north: fc.nat(3) }, { requiredKeys: [] });
const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => enc(JSON.stringify(v))),
  fc.record({ p: fc.dictionary(fc.constantFrom(...REGIONS), fc.nat(9)), n: fc.dictionary(fc.constantFrom(...REGIONS), fc.nat(9)) }).map((c) => enc(JSON.stringify(c))),
  fc.array(fc.oneof(fc.string({ maxLength: 2 }), fc.nat(3)), { maxLength: 4 }).map((a) => enc(JSON.stringify(a))),
  fc.uint8Array({ maxLength: 6 }),
);
const versionArb = (vv: fc.Arbitrary<VersionVector>): fc.Arbitrary<RecordVersion> =>
  fc.record({
    vv,
    hlc: fc.tuple(fc.nat(4), fc.nat(2)),
    origin: fc.constantFrom(...REGIONS),
    epoch: fc.nat(3),
    tombstone: fc.boolean(),
    contentType: fc.constantFrom('application/json', 'text/plain'),
    value: valueArb,
  }).map((v) => (v.tombstone ? { ...v, value: new Uint8Array(0) } : v));

const concurrentPair = fc
  .tuple(vvArb, vvArb)
  .filter(([a, b]) => compareVv(a, b) === 'concurrent')
  .chain(([a, b]) => fc.tuple(versionArb(fc.constant(a)), versionArb(fc.constant(b))));

const ctxArb: fc.Arbitrary<MergeContext> = fc.record(
  {
    keyspace: fc.constant('ks'),
    key: fc.string({ maxLength: 3 }),
    partition: fc.nat(7),
    region: fc.constantFrom(...REGIONS),
    activeRegion: fc.constantFrom(...REGIONS),
    restoreSource: fc.constantFrom(...REGIONS),
    fenceEpoch: fc.nat(3),
  },
  { requiredKeys: ['keyspace', 'key', 'partition', 'region', 'activeRegion'] },
);

const caseArb = fc.record({
  pair: concurrentPair,
  base: fc.option(versionArb(fc.constant({})), { nil: undefined }),
  resolver: fc.constantFrom(...RESOLVERS),
  ctx: ctxArb,
});

describe('resolve: properties', () => {
  it('is independent of argument order (content, new version, actions, journal fields)', () => {
    fc.assert(
      fc.property(caseArb, ({ pair: [a, b], base, resolver, ctx }) => {
        const more = { resolver, ctx, triggers, ...(base && { base }) };
        const r1 = resolve({ current: a, incoming: b, ...more });
        const r2 = resolve({ current: b, incoming: a, ...more });
        expect(r2.version).toEqual(r1.version);
        expect([r2.tombstone, r2.contentType, r2.resolver, r2.type, r2.journal, r2.conflictId]).toEqual([r1.tombstone, r1.contentType, r1.resolver, r1.type, r1.journal, r1.conflictId]);
        expect(r2.actions).toEqual(r1.actions);
        expect(r2.error?.code).toBe(r1.error?.code);
      }),
      { numRuns: 1000 },
    );
  });

  it('writes a version that dominates both inputs, stamped like one of them; resolved above both', () => {
    fc.assert(
      fc.property(caseArb, ({ pair: [a, b], base, resolver, ctx }) => {
        const r = resolve({ current: a, incoming: b, resolver, ctx, triggers, ...(base && { base }) });
        expect(compareVv(r.version.vv, a.vv)).toBe('after');
        expect(compareVv(r.version.vv, b.vv)).toBe('after');
        expect(compareHlc(r.resolvedHlc, a.hlc)).toBeGreaterThan(0);
        expect(compareHlc(r.resolvedHlc, b.hlc)).toBeGreaterThan(0);
        // the write stamp of the kept content: lww against any later version goes by it
        const stampedLike = [a, b].filter((s) => compareHlc(s.hlc, r.version.hlc) === 0 && s.origin === r.version.origin);
        expect(stampedLike.length).toBeGreaterThan(0);
        if (r.winner !== 'merged' && !(a.tombstone && b.tombstone)) {
          const kept = r.winner === 'current' ? a : b;
          const other = r.winner === 'current' ? b : a;
          const keptAlsoOther = other.tombstone === kept.tombstone && other.contentType === kept.contentType && Buffer.compare(other.value, kept.value) === 0;
          if (!keptAlsoOther) expect([r.version.hlc, r.version.origin]).toEqual([kept.hlc, kept.origin]);
        }
        if (r.tombstone) expect(r.value.length).toBe(0);
        if (r.winner !== 'merged') expect(r.loser).toBe(r.winner === 'current' ? b : a);
      }),
      { numRuns: 1000 },
    );
  });

  it('merged JSON values come out canonical (re-encoding them changes nothing)', () => {
    fc.assert(
      fc.property(caseArb, ({ pair: [a, b], base, resolver, ctx }) => {
        const r = resolve({ current: a, incoming: b, resolver, ctx, triggers, ...(base && { base }) });
        if (r.winner !== 'merged' || !['counter', 'set', 'json-merge'].includes(r.resolver)) return;
        const parsed = decodeJson(r.value);
        expect(parsed).toBeDefined();
        expect(new TextDecoder().decode(r.value)).toBe(canonicalJson(parsed!));
      }),
      { numRuns: 500 },
    );
  });
});
