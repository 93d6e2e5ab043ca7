import { describe, expect, it } from 'vitest';
import { PartitionMap, hash32 } from './partition-map.js';
import { parseGatewayConfig } from './config.js';

function keyspace(extra: Record<string, unknown> = {}) {
  return parseGatewayConfig({
    region: 'east', listen: { port: 1 }, publicUrl: 'http://x:1', redis: { url: 'redis://x' },
    cluster: { id: 'c', secret: 'a-secret-of-16-chars', regions: ['east', 'west', 'north'] },
    keyspaces: [{ name: 'orders', partitions: 16, ...extra }],
  }, 't').keyspaces[0]!;
}

describe('partition map', () => {
  it('is deterministic: two maps built from one config agree on every key', () => {
    const a = new PartitionMap(keyspace(), ['east', 'west', 'north'], 1024);
    const b = new PartitionMap(keyspace(), ['east', 'west', 'north'], 1024);
    for (let i = 0; i < 2000; i++) expect(a.place(`key-${i}`)).toEqual(b.place(`key-${i}`));
    expect(hash32('hello')).toBe(hash32('hello'));
    expect(hash32('hello')).not.toBe(hash32('hellp'));
  });

  it('spreads keys over every partition roughly evenly', () => {
    const map = new PartitionMap(keyspace(), ['east', 'west', 'north'], 1024);
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 32_000; i++) counts[map.place(`user:${i}`).partition]++;
    expect(Math.min(...counts)).toBeGreaterThan(2000 * 0.5);
    expect(Math.max(...counts)).toBeLessThan(2000 * 1.6);
  });

  it('rotates homes so each region is home to an equal share', () => {
    const map = new PartitionMap(keyspace(), ['east', 'west', 'north'], 1024);
    const homes: Record<string, number> = {};
    for (let p = 0; p < 15; p++) {
      const list = map.nodeList(p);
      expect(list.map((n) => n.region).sort()).toEqual(['east', 'north', 'west']);
      homes[list[0]!.region] = (homes[list[0]!.region] ?? 0) + 1;
    }
    expect(homes).toEqual({ east: 5, west: 5, north: 5 });
  });

  it('keeps an explicit node list with sync replicas, unrotated when asked', () => {
    const ks = keyspace({ nodes: [{ region: 'west' }, { region: 'east', replication: 'sync' }], rotateHomes: false });
    const map = new PartitionMap(ks, ['east', 'west', 'north'], 64);
    expect(map.nodeList(3)).toEqual([{ region: 'west', replication: 'async' }, { region: 'east', replication: 'sync' }]);
    expect(map.place('k').bucket).toBeLessThan(64);
  });

  it('every partition owns at least one slot even when slots are scarce', () => {
    const map = new PartitionMap(keyspace({ partitions: 64, ringSlots: 64 }), ['east'], 8);
    const seen = new Set<number>();
    for (let i = 0; i < 20_000; i++) seen.add(map.place(`k${i}`).partition);
    expect(seen.size).toBe(64);
  });
});
