import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, parseGatewayConfig, DEFAULT_VALUE_BYTES_MAX } from './config.js';
import { ConfigError } from './errors.js';

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
});
