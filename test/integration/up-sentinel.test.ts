import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { runUp } from '../../infra/local/up.js';
import { freePortRange } from '../../infra/local/ports.js';
import { eventually } from '../helpers/cluster.js';

const listening = (port: number) => new Promise<boolean>((resolve) => {
  const s = createConnection({ host: '127.0.0.1', port });
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

describe('geogate up --redis sentinel', () => {
  it('gives every region a master, a replica and 3 sentinels, serves through them, and stops them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geogate-up-sentinel-'));
    const cluster = await runUp({ regions: 2, basePort: await freePortRange(8), dir, wanDelayMs: 0, quiet: true, redisMode: 'sentinel' })
      .catch((err: Error) => { rmSync(dir, { recursive: true, force: true }); throw err; });
    const groups = [...cluster.sentinelGroups];
    const sentinelPorts = groups.flatMap((g) => g.addresses.map((a) => Number(a.split(':')[1])));
    try {
      expect(groups).toHaveLength(2);
      expect(cluster.redis).toHaveLength(4);
      const [east, west] = cluster.gateways;
      expect(east!.config.redis.sentinels).toEqual(groups[0]!.addresses);
      expect(east!.config.redis.url).toBeUndefined();
      expect(east!.config.keyspaces.find((k) => k.name === 'orders')!.durability).toBe('replica');
      const res = await fetch(`${east!.url}/v1/kv/carts/hello`, { method: 'PUT', body: 'world' });
      expect(res.status).toBe(201);
      expect(await eventually(async () => (await fetch(`${west!.url}/v1/kv/carts/hello`)).status === 200, 10_000)).toBe(true);
      for (const p of sentinelPorts) expect(await listening(p)).toBe(true);
    } finally {
      await cluster.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(cluster.redis.some((r) => r.running)).toBe(false);
    for (const p of sentinelPorts) expect(await listening(p)).toBe(false);
  });
});
