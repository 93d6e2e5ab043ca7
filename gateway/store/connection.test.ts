import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { parseSentinelAddress, redisOptions } from './connection.js';

const base = (redis: Record<string, unknown>, keyspace: Record<string, unknown> = {}) => ({
  region: 'east',
  listen: { port: 7101 },
  publicUrl: 'http://127.0.0.1:7101',
  redis,
  cluster: { id: 'demo', secret: 'a-secret-of-16-chars', regions: ['east'] },
  keyspaces: [{ name: 'orders', ...keyspace }],
});

function fieldOf(raw: unknown): string {
  try {
    parseGatewayConfig(raw, 'cfg.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).field;
  }
  throw new Error('expected a ConfigError');
}

describe('store mode config', () => {
  it('takes redis.sentinels + redis.name instead of redis.url', () => {
    const c = parseGatewayConfig(base({ sentinels: ['127.0.0.1:26379', '[::1]:26380', 'sentinel-2.local:26381'], name: 'geogate' }), 'cfg.json');
    expect(c.redis.url).toBeUndefined();
    expect(c.redis.sentinels).toHaveLength(3);
  });

  it('needs exactly one of the two, and names the field', () => {
    expect(fieldOf(base({}))).toBe('redis.url');
    expect(fieldOf(base({ url: 'redis://127.0.0.1:6379', sentinels: ['127.0.0.1:26379'], name: 'g' }))).toBe('redis.sentinels');
    expect(fieldOf(base({ sentinels: ['127.0.0.1:26379'] }))).toBe('redis.name');
    expect(fieldOf(base({ url: 'redis://127.0.0.1:6379', name: 'g' }))).toBe('redis.name');
    expect(fieldOf(base({ sentinels: ['127.0.0.1'], name: 'g' }))).toBe('redis.sentinels[0]');
    expect(fieldOf(base({ sentinels: [], name: 'g' }))).toBe('redis.sentinels');
  });

  it('durability defaults to local; replica needs a WAIT shorter than the command timeout', () => {
    const c = parseGatewayConfig(base({ url: 'redis://127.0.0.1:6379' }), 'cfg.json');
    expect(c.keyspaces[0]!.durability).toBe('local');
    expect(fieldOf(base({ url: 'redis://127.0.0.1:6379', commandTimeoutMs: 500 }, { durability: 'replica', replicaWaitMs: 500 }))).toBe('keyspaces[0].replicaWaitMs');
    expect(fieldOf(base({ url: 'redis://127.0.0.1:6379' }, { durability: 'quorum' }))).toBe('keyspaces[0].durability');
    expect(fieldOf(base({ url: 'redis://127.0.0.1:6379' }, { replicaWaitMs: 10_001 }))).toBe('keyspaces[0].replicaWaitMs');
  });
});

describe('redisOptions', () => {
  it('standalone and Sentinel connections share the write-path rules: no offline queue, no resend', () => {
    const standalone = parseGatewayConfig(base({ url: 'redis://127.0.0.1:6379' }), 'cfg.json');
    const sentinel = parseGatewayConfig(base({ sentinels: ['127.0.0.1:26379', '[::1]:26380'], name: 'geogate' }), 'cfg.json');
    for (const c of [standalone, sentinel]) {
      const o = redisOptions(c.redis);
      expect(o.enableOfflineQueue).toBe(false);
      expect(o.autoResendUnfulfilledCommands).toBe(false);
      expect(o.commandTimeout).toBe(c.redis.commandTimeoutMs);
    }
    const o = redisOptions(sentinel.redis);
    expect(o.sentinels).toEqual([{ host: '127.0.0.1', port: 26379 }, { host: '::1', port: 26380 }]);
    expect(o).toMatchObject({ name: 'geogate', role: 'master', failoverDetector: true });
    expect(redisOptions(standalone.redis).sentinels).toBeUndefined();
  });

  it('parses host:port', () => {
    expect(parseSentinelAddress('h.example:1')).toEqual({ host: 'h.example', port: 1 });
    expect(() => parseSentinelAddress('h:0')).toThrow(RangeError);
    expect(() => parseSentinelAddress(':26379')).toThrow(RangeError);
  });
});
