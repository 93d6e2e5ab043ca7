import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUp } from '../../infra/local/up.js';
import { freePortRange } from '../../infra/local/ports.js';
import { eventually } from '../helpers/cluster.js';

describe('geogate up', () => {
  it('starts a witness and fully meshed regions (through the WAN emulator) and stops everything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geogate-up-test-'));
    const cluster = await runUp({ regions: 3, basePort: await freePortRange(8), dir, wanDelayMs: 20, quiet: true });
    const redis = [...cluster.redis];
    expect(redis.every((r) => r.running)).toBe(true);
    try {
      expect(cluster.gateways).toHaveLength(3);
      expect(cluster.relays).toHaveLength(6);
      expect((await fetch(`${cluster.witnessUrl}/healthz`)).status).toBe(200);
      const [east, west, north] = cluster.gateways;
      const res = await fetch(`${east!.url}/v1/kv/carts/hello`, { method: 'PUT', body: Buffer.from('world') });
      expect(res.status).toBe(201);
      for (const g of [west!, north!]) {
        expect(await eventually(async () => (await fetch(`${g.url}/v1/kv/carts/hello`)).status === 200, 10_000)).toBe(true);
      }
      const status = await (await fetch(`${west!.url}/v1/status`)).json();
      expect(status.peers.map((p: { region: string }) => p.region).sort()).toEqual(['east', 'north']);
      expect(await eventually(async () => (await (await fetch(`${north!.url}/v1/status`)).json()).ownership.leased > 0, 10_000)).toBe(true);
    } finally {
      await cluster.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(redis.some((r) => r.running)).toBe(false);
  });

  it('--gateways-per-region 2: two instances per region, one coordinator each, writes through either reach the other region', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geogate-up-test-'));
    const cluster = await runUp({ regions: 2, basePort: await freePortRange(8), dir, wanDelayMs: 0, quiet: true, gatewaysPerRegion: 2 });
    try {
      expect(cluster.gateways).toHaveLength(4);
      const [e0, e1, w0] = cluster.gateways;
      const coordination = async (url: string) => (await (await fetch(`${url}/v1/status`)).json()).coordination;
      expect(await eventually(async () => {
        const [a, b] = await Promise.all([coordination(e0!.url), coordination(e1!.url)]);
        return [a.role, b.role].sort().join() === 'coordinator,instance' && a.instances.length === 2;
      }, 10_000)).toBe(true);
      // a carts (multi-master) write through east's second instance reaches west
      expect((await fetch(`${e1!.url}/v1/kv/carts/via-e1`, { method: 'PUT', body: 'x' })).status).toBe(201);
      expect(await eventually(async () => (await fetch(`${w0!.url}/v1/kv/carts/via-e1`)).status === 200, 10_000)).toBe(true);
    } finally {
      await cluster.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
