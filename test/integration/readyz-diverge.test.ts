/**
 * /readyz says "200 when this region can take the writes it should".
 * An isolated region takes the writes of its onSplit: diverge keyspaces (that is what diverge
 * is for; merged after the heal): /readyz answered 503 (links: cut off from the quorum), so
 * a readinessProbe / load balancer took the region out exactly when it was the only place
 * those clients could write (and read). Now it is ready, degraded; `?keyspace=orders` (fence)
 * is not.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';

let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
afterAll(async () => { await cluster?.stop(); });

describe('/readyz of an isolated region with a diverge keyspace', () => {
  it('takes carts writes (201) and /readyz says ready, degraded; the fence keyspace alone is not ready', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, witness: true });
    const c = cluster;
    const url = c.byName('east').gateway.url;
    expect(await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, 100)).toBe(true);
    c.isolate('east');
    // wait until east knows it is cut off (leases lapse)
    await new Promise((r) => setTimeout(r, 4000));
    const put = await fetch(`${url}/v1/kv/carts/during-split`, { method: 'PUT', body: 'x' });
    const ready = await fetch(`${url}/readyz`);
    const body = await ready.json() as { failing: string[]; degraded: string[] };

    expect(put.status).toBe(201);
    expect(ready.status).toBe(200);
    expect(body).toMatchObject({ failing: [], degraded: expect.arrayContaining(['links']) });
    const fence = await fetch(`${url}/readyz?keyspace=orders`);
    expect(fence.status).toBe(503);
    expect(((await fence.json()) as { failing: string[] }).failing).toContain('links');
    expect((await fetch(`${url}/readyz?keyspace=nope`)).status).toBe(404);
  });
});
