import { describe, expect, it } from 'vitest';
import { parseWitnessConfig } from './config.js';
import {
  canonicalSettings, describeDiff, diffSettings, parseSharedSettings, settingsDigest, voterSettings, witnessSettings, type SharedSettings,
} from './shared-settings.js';

const base: SharedSettings = {
  v: 1, leaseMs: 1500, driftMarginMs: 150, regions: ['east', 'west'], weights: { east: 1, west: 1, witness: 1 }, merkleBuckets: 1024,
  keyspaces: [
    { name: 'orders', partitions: 2, onSplit: 'fence', nodes: [['east', 'west'], ['west', 'east']], sync: [], ringSlots: 4096, resolver: 'lww', writes: 'single-master' },
    { name: 'carts', partitions: 1, onSplit: 'diverge', nodes: [['east', 'west']], sync: [], ringSlots: 4096, resolver: 'set', writes: 'multi-master' },
  ],
};
const edit = (f: (s: { -readonly [K in keyof SharedSettings]: SharedSettings[K] }) => void): SharedSettings => {
  const s = structuredClone(base) as { -readonly [K in keyof SharedSettings]: SharedSettings[K] };
  f(s);
  return s;
};

describe('shared settings', () => {
  it('canonical form and digest do not depend on the order of keyspaces, weights or sync replicas', () => {
    const shuffled = edit((s) => {
      s.keyspaces = [...s.keyspaces].reverse();
      s.weights = { witness: 1, west: 1, east: 1 };
    });
    expect(settingsDigest(shuffled)).toBe(settingsDigest(base));
    expect(JSON.stringify(canonicalSettings(shuffled))).toBe(JSON.stringify(canonicalSettings(base)));
    expect(diffSettings(base, shuffled)).toBeNull();
  });

  it('names the first differing field with both values', () => {
    const d = diffSettings(base, edit((s) => { s.leaseMs = 6000; }));
    expect(d).toEqual({ field: 'leaseMs', local: 1500, remote: 6000 });
    expect(describeDiff(d!, 'witness', 'region east')).toBe('leaseMs: witness 1500, region east 6000');
  });

  it.each([
    ['driftMarginMs', (s: any) => { s.driftMarginMs = 100; }],
    ['weights.witness', (s: any) => { s.weights.witness = 2; }],
    ['merkleBuckets', (s: any) => { s.merkleBuckets = 512; }],
    ['regions', (s: any) => { s.regions = ['west', 'east']; }],
    ['keyspaces.orders.partitions', (s: any) => { s.keyspaces[0].partitions = 3; }],
    ['keyspaces.orders.ringSlots', (s: any) => { s.keyspaces[0].ringSlots = 1024; }],
    ['keyspaces.carts.resolver', (s: any) => { s.keyspaces[1].resolver = 'lww'; }],
    ['keyspaces.carts.onSplit', (s: any) => { s.keyspaces[1].onSplit = 'fence'; }],
    ['keyspaces.orders.nodes[1]', (s: any) => { s.keyspaces[0].nodes[1] = ['east', 'west']; }],
    ['keyspaces.orders.sync', (s: any) => { s.keyspaces[0].sync = ['west']; }],
    ['keyspaces.stock', (s: any) => { s.keyspaces.push({ ...s.keyspaces[0], name: 'stock' }); }],
  ])('%s', (field, f) => {
    expect(diffSettings(base, edit(f))?.field).toBe(field);
    expect(settingsDigest(edit(f))).not.toBe(settingsDigest(base));
  });

  it('the voter subset leaves out what the witness does not know', () => {
    const v = voterSettings(base);
    expect(v.merkleBuckets).toBeUndefined();
    expect(v.keyspaces.every((k) => k.ringSlots === undefined && k.resolver === undefined && k.writes === undefined)).toBe(true);
    expect(diffSettings(v, voterSettings(edit((s: any) => { s.keyspaces[0].ringSlots = 1; })))).toBeNull();
  });

  it('the witness config resolves default node lists and weights like the gateways', () => {
    const raw = {
      listen: { port: 0 }, cluster: { id: 'c', secret: 'x'.repeat(16), regions: ['east', 'west'] }, stateFile: 's.json',
      keyspaces: [{ name: 'orders', partitions: 2 }, { name: 'carts', partitions: 1, onSplit: 'diverge' }],
    };
    const w = parseWitnessConfig(raw, 'w.json');
    expect(diffSettings(witnessSettings(w), voterSettings(base))).toBeNull();
    const longer = parseWitnessConfig({ ...structuredClone(raw), leaseMs: 3000 }, 'w.json');
    expect(describeDiff(diffSettings(witnessSettings(longer), voterSettings(base))!, 'witness', 'region east')).toBe('leaseMs: witness 3000, region east 1500');
  });

  it('rejects malformed settings from the wire with the path', () => {
    expect(parseSharedSettings({ ...base, leaseMs: 'x' })).toMatch(/^leaseMs/);
    expect(parseSharedSettings({ ...base, extra: 1 })).toMatch(/unrecognized|extra/i);
    expect(typeof parseSharedSettings(base)).toBe('object');
  });
});
