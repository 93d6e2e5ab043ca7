/** `geogate up --tls`: the local cluster over TLS end to end, certificates made by the certs module, no secret in a config file. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUp } from '../../infra/local/up.js';
import { freePortRange } from '../../infra/local/ports.js';
import { eventually } from '../helpers/cluster.js';

function get(url: string, ca: string, method = 'GET', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('geogate up --tls', () => {
  it('runs the regions and the witness over TLS with mutual TLS between sites, through the WAN emulator', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geogate-up-tls-'));
    const cluster = await runUp({ regions: 2, basePort: await freePortRange(8), dir, wanDelayMs: 5, quiet: true, tls: true });
    try {
      const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
      expect(cluster.witnessUrl).toMatch(/^https:/);
      const witnessConfig = readFileSync(join(dir, 'witness.json'), 'utf8');
      expect(witnessConfig).not.toContain(readFileSync(join(dir, 'cluster.secret'), 'utf8').trim());
      expect((await get(`${cluster.witnessUrl}/healthz`, ca)).status).toBe(200);
      const [east, west] = cluster.gateways;
      expect(east!.url).toMatch(/^https:/);
      await expect(fetch(east!.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
      expect((await get(`${east!.url}/v1/kv/carts/hello`, ca, 'PUT', 'tls world')).status).toBe(201);
      expect(await eventually(async () => (await get(`${west!.url}/v1/kv/carts/hello`, ca)).text === 'tls world', 10_000)).toBe(true);
      const status = JSON.parse((await get(`${west!.url}/v1/status`, ca)).text);
      expect(status.peers[0].linkState).toBe('established');
      expect(await eventually(async () => JSON.parse((await get(`${east!.url}/v1/status`, ca)).text).ownership.leased > 0, 10_000)).toBe(true);
      expect(cluster.relays.some((r) => r.stats().ab.bytesForwarded > 0)).toBe(true); // the dialing direction of the link
    } finally {
      await cluster.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
