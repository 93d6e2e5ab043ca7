import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, eventually } from '../helpers/cluster.js';
import { freePort } from '../../infra/local/ports.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
let hook: Server | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
});

describe('compensation triggers', () => {
  it('a trigger resolves a split-brain double payment once and its webhook is delivered once with an idempotency key', async () => {
    const received: { key: string | undefined; body: unknown }[] = [];
    let failFirst = true;
    const port = await freePort();
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        if (failFirst) { failFirst = false; res.writeHead(500).end(); return; } // one failed attempt: retried
        received.push({ key: req.headers['idempotency-key'] as string | undefined, body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    }).listen(port, '127.0.0.1');
    const dir = mkdtempSync(join(tmpdir(), 'geogate-trigger-'));
    const module = join(dir, 'refund.mjs');
    writeFileSync(module, `
      export default function refund({ current, incoming }) {
        const a = current.json, b = incoming.json;
        const [keep, drop] = a.paymentId < b.paymentId ? [a, b] : [b, a];
        return { value: keep, actions: [{ kind: 'webhook', url: 'http://127.0.0.1:${port}/refunds', body: { refund: drop.paymentId } }] };
      }`);
    cluster = await startCluster(['east', 'west'], {
      wan: true,
      extra: {
        triggers: [{ name: 'refund', module }],
        keyspaces: [{ name: 'payments', partitions: 4, writes: 'multi-master', onSplit: 'diverge', resolver: 'trigger:refund' }],
      },
    });
    const c = cluster;
    for (const r of c.relays) r.cut('both', 'blackhole');
    const pay = (region: string, id: string) => fetch(`${c.byName(region).gateway.url}/v1/kv/payments/order-1`, {
      method: 'PUT', body: Buffer.from(JSON.stringify({ orderId: 'order-1', paymentId: id })), headers: { 'content-type': 'application/json' },
    });
    expect((await pay('east', 'pay_b')).status).toBe(201);
    expect((await pay('west', 'pay_a')).status).toBe(201);
    c.healAll();
    expect(await eventually(async () => received.length >= 1, 15_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toEqual({ refund: 'pay_b' });
    expect(received[0]!.key).toMatch(/^[0-9a-f]{16,}$/);
    for (const r of c.regions) {
      const rec = await r.gateway.store.get('payments', 'order-1');
      expect(JSON.parse(Buffer.from(rec!.value).toString()).paymentId).toBe('pay_a');
    }
    const journal = (await Promise.all(c.regions.map(async (r) => (await (await fetch(`${r.gateway.url}/v1/conflicts`)).json()).conflicts))).flat();
    expect(journal).toHaveLength(1);
    expect(journal[0].resolver).toBe('trigger:refund');
  });
});
