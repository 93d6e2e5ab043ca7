import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, parseGatewayConfig, DEFAULT_VALUE_BYTES_MAX } from './config.js';
import { ConfigError } from './errors.js';
import { APPLY_BATCH_RECORDS_MAX } from './store/region-store.js';
import { PACKED_METADATA_BYTES_MAX } from '../replicator/packed.js';
import { changesFrameBytesMax } from '../replicator/codec.js';

const valid = () => ({
  region: 'east',
  listen: { host: '127.0.0.1', port: 7101 },
  publicUrl: 'http://127.0.0.1:7101',
  redis: { url: 'redis://127.0.0.1:6401' },
  cluster: { id: 'demo', secret: 'a-secret-of-16-chars', regions: ['east', 'west'] },
  peers: [{ region: 'west', url: 'http://127.0.0.1:7102' }],
  witness: { url: 'http://127.0.0.1:7100' },
  keyspaces: [
    { name: 'orders', partitions: 16, onSplit: 'fence', resolver: 'lww' },
    { name: 'carts', partitions: 16, onSplit: 'diverge' },
  ],
});

function errorOf(raw: unknown): ConfigError {
  try {
    parseGatewayConfig(raw, 'cfg.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('gateway config', () => {
  it('accepts the documented shape and fills defaults, frozen', () => {
    const c = parseGatewayConfig(valid(), 'cfg.json');
    expect(c.keyspaces[1]!.writes).toBe('single-master');
    expect(c.keyspaces[1]!.resolver).toBe('lww');
    expect(c.limits.valueBytesMax).toBe(DEFAULT_VALUE_BYTES_MAX);
    expect(c.redis.keyPrefix).toBe('gg:');
    expect(Object.isFrozen(c.keyspaces[0])).toBe(true);
  });

  it('accepts a one-region cluster without peers or witness', () => {
    const raw = valid() as Record<string, unknown>;
    delete raw.peers;
    delete raw.witness;
    raw.cluster = { id: 'solo', secret: 'a-secret-of-16-chars', regions: ['east'] };
    expect(parseGatewayConfig(raw, 'cfg.json').peers).toEqual([]);
  });

  it.each([
    [(c: any) => { c.keyspaces[0].onSplit = 'maybe'; }, 'keyspaces[0].onSplit'],
    [(c: any) => { c.keyspaces[1].partitions = 0; }, 'keyspaces[1].partitions'],
    [(c: any) => { c.listen.port = 'x'; }, 'listen.port'],
    [(c: any) => { c.region = 'south'; }, 'region'],
    [(c: any) => { c.peers[0].region = 'east'; }, 'peers[0].region'],
    [(c: any) => { c.cluster.secret = 'short'; }, 'cluster.secret'],
    [(c: any) => { c.keyspaces[0].colour = 'red'; }, 'keyspaces[0].colour'],
    [(c: any) => { c.keyspaces[1].name = 'orders'; }, 'keyspaces[1].name'],
    [(c: any) => { c.keyspaces[0].resolver = 'trigger:refund'; }, 'keyspaces[0].resolver'],
    [(c: any) => { c.keyspaces[0].nodes = [{ region: 'mars' }]; }, 'keyspaces[0].nodes[0].region'],
    [(c: any) => { c.redis.url = 'http://x'; }, 'redis.url'],
    [(c: any) => { delete c.keyspaces; }, 'keyspaces'],
  ])('names the bad field (%#)', (mutate, field) => {
    const raw = valid();
    mutate(raw);
    const err = errorOf(raw);
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`cfg.json: ${field}: `)).toBe(true);
  });

  it('reports unreadable files and bad JSON with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'geogate-cfg-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "region": ');
    expect(() => loadGatewayConfig(bad)).toThrow(/bad\.json: \(root\): not valid JSON/);
    expect(() => loadGatewayConfig(join(dir, 'missing.json'))).toThrow(/missing\.json: \(root\): cannot read/);
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(valid()));
    expect(loadGatewayConfig(good).region).toBe('east');
  });

  describe('limit combinations that cannot work (both fields named)', () => {
    const limit = (mutate: (c: any) => void): ConfigError => {
      const raw = valid() as any;
      mutate(raw);
      return errorOf(raw);
    };

    it('replication.batchRecordsMax above what the apply script takes in one call', () => {
      const err = limit((c) => { c.replication = { batchRecordsMax: APPLY_BATCH_RECORDS_MAX + 1 }; });
      expect(err.field).toBe('replication.batchRecordsMax');
      expect(err.message).toContain(String(APPLY_BATCH_RECORDS_MAX));
      expect(parseGatewayConfig({ ...valid(), replication: { batchRecordsMax: APPLY_BATCH_RECORDS_MAX } }, 'cfg.json').replication.batchRecordsMax).toBe(APPLY_BATCH_RECORDS_MAX);
    });

    it('limits.valueBytesMax whose record (key + value + metadata) does not fit in replication.frameBytesMax', () => {
      const err = limit((c) => { c.limits = { valueBytesMax: 4 * 1024 * 1024 }; });
      expect(err.field).toBe('limits.valueBytesMax');
      expect(err.message).toContain('replication.frameBytesMax');
      expect(err.message).toContain('limits.keyBytesMax');
      const frameBytesMax = 1 << 20;
      const fits = frameBytesMax - changesFrameBytesMax(1, 512 + PACKED_METADATA_BYTES_MAX);
      expect(parseGatewayConfig({ ...valid(), limits: { valueBytesMax: fits }, replication: { frameBytesMax, batchBytesMax: 1 << 19 } }, 'cfg.json').limits.valueBytesMax).toBe(fits);
      expect(limit((c) => { c.limits = { valueBytesMax: fits + 1 }; c.replication = { frameBytesMax, batchBytesMax: 1 << 19 }; }).field).toBe('limits.valueBytesMax');
    });

    it('a full batch (replication.batchBytesMax plus framing of batchRecordsMax records) over replication.frameBytesMax', () => {
      const err = limit((c) => { c.replication = { frameBytesMax: 1 << 20, batchBytesMax: (1 << 20) - 100, batchRecordsMax: 512 }; c.limits = { valueBytesMax: 1024 }; });
      expect(err.field).toBe('replication.batchBytesMax');
      expect(err.message).toContain('replication.frameBytesMax');
      expect(err.message).toContain('replication.batchRecordsMax');
    });

    it('lease.driftMarginMs not below lease.leaseMs (a lease that is never valid)', () => {
      const err = limit((c) => { c.lease = { leaseMs: 1000, driftMarginMs: 1000 }; });
      expect(err.field).toBe('lease.driftMarginMs');
      expect(err.message).toContain('lease.leaseMs');
    });
  });
});
