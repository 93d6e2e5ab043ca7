import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegion, type RegionFixture } from '../helpers/cluster.js';

type Region = RegionFixture & { stop(): Promise<void> };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis killed and restarted under load', () => {
  let r: Region;
  beforeAll(async () => { r = await startRegion('east'); });
  afterAll(async () => { await r?.stop(); });

  it('answers 503 with a clear body while Redis is down, recovers by itself, loses no acknowledged write', async () => {
    const acked = new Map<string, string>();
    const statuses = new Map<number, number>();
    let unavailableBody: { error?: { code?: string; message?: string } } | undefined;
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const key = `w${w}-${n++}`;
        const value = `v-${key}`;
        try {
          const res = await fetch(`${r.gateway.url}/v1/kv/carts/${key}`, { method: 'PUT', body: Buffer.from(value) });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 201) acked.set(key, value);
          else if (res.status === 503) unavailableBody = await res.json();
          else await res.arrayBuffer();
        } catch {
          statuses.set(-1, (statuses.get(-1) ?? 0) + 1);
        }
        if (statuses.has(503)) await sleep(5);
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await sleep(500);
    await r.redis.kill();
    await sleep(800);
    const health = await fetch(`${r.gateway.url}/readyz`);
    expect(health.status).toBe(503);
    await r.redis.start();
    // the gateway reconnects by itself; wait until writes succeed again
    const ackedBeforeRecovery = acked.size;
    const deadline = Date.now() + 10_000;
    while (acked.size < ackedBeforeRecovery + 50 && Date.now() < deadline) await sleep(50);
    stop = true;
    await Promise.all(workers);

    expect(statuses.get(-1) ?? 0).toBe(0); // the gateway process never dropped a connection
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect(unavailableBody?.error?.code).toBe('store_unavailable');
    expect(unavailableBody?.error?.message).toMatch(/Redis/);
    expect(acked.size).toBeGreaterThanOrEqual(ackedBeforeRecovery + 50);
    expect([...statuses.keys()].every((s) => s === 201 || s === 503)).toBe(true);
    for (const [key, value] of acked) {
      const rec = await r.gateway.store.get('carts', key);
      expect(rec && Buffer.from(rec.value).toString(), key).toBe(value);
    }
    expect((await fetch(`${r.gateway.url}/healthz`)).status).toBe(200);
  });
});
