/**
 * `rediss://` to the region's Redis (issue 12): a redis-server serving TLS only, asking
 * every client for a certificate (tls-auth-clients yes); the gateway reaches it with
 * redis.tls { caFile, certFile, keyFile } and serves writes; without a client certificate,
 * or trusting another CA, its store never becomes ready (503, geogate_store_up 0).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, startGateway, type RunningGateway } from '../../gateway/index.js';
import { freePort } from '../../infra/local/ports.js';
import { silentLogger } from '../../infra/log.js';
import { createCa, createNodeCert } from '../../security/index.js';

let dir: string;
let port: number;
let server: ChildProcess;
const running: RunningGateway[] = [];

async function gateway(tls: Record<string, unknown>, url = `rediss://127.0.0.1:${port}`): Promise<RunningGateway> {
  const listen = await freePort();
  const g = await startGateway(parseGatewayConfig({
    region: 'east', listen: { host: '127.0.0.1', port: listen }, publicUrl: `http://127.0.0.1:${listen}`,
    redis: { url, keyPrefix: `rt${running.length}:`, commandTimeoutMs: 500, tls },
    cluster: { id: 'rtls', secret: 'redis-tls-test-secret-0123456789', regions: ['east'] },
    keyspaces: [{ name: 'carts', partitions: 2, onSplit: 'diverge', writes: 'multi-master' }],
  }, join(dir, 'east.json')), { log: silentLogger() });
  running.push(g);
  return g;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geogate-redis-tls-'));
  await createCa({ dir: join(dir, 'ca') });
  await createNodeCert({ dir: join(dir, 'ca'), node: { region: 'redis' } }); // localhost, 127.0.0.1
  await createNodeCert({ dir: join(dir, 'ca'), node: { region: 'east' } });
  await createCa({ dir: join(dir, 'other') });
  port = await freePort();
  const ca = join(dir, 'ca');
  server = spawn('redis-server', [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--tls-cert-file', join(ca, 'region-redis.crt'), '--tls-key-file', join(ca, 'region-redis.key'),
    '--tls-ca-cert-file', join(ca, 'ca.crt'), '--tls-auth-clients', 'yes', '--logfile', '',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('Ready to accept connections')) resolve(); });
    server.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out.slice(-500)}`)));
  });
}, 30_000);

afterAll(async () => {
  for (const g of running) await g.close().catch(() => {});
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('rediss:// to the region store', () => {
  it('writes and reads through a TLS-only Redis with the CA and a client certificate', async () => {
    const ca = join(dir, 'ca');
    const g = await gateway({ caFile: join(ca, 'ca.crt'), certFile: join(ca, 'region-east.crt'), keyFile: join(ca, 'region-east.key') });
    const put = await fetch(`${g.url}/v1/kv/carts/k`, { method: 'PUT', body: 'over rediss' });
    expect(put.status).toBe(201);
    expect(await (await fetch(`${g.url}/v1/kv/carts/k`)).text()).toBe('over rediss');
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
  });

  it('without a client certificate, or trusting another CA, the store never answers', async () => {
    const ca = join(dir, 'ca');
    const noCert = await gateway({ caFile: join(ca, 'ca.crt') });
    const otherCa = await gateway({ caFile: join(dir, 'other', 'ca.crt'), certFile: join(ca, 'region-east.crt'), keyFile: join(ca, 'region-east.key') });
    for (const g of [noCert, otherCa]) {
      expect((await fetch(`${g.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${g.url}/v1/kv/carts/k`, { method: 'PUT', body: 'x' })).status).toBe(503);
    }
  });

  it('a redis:// URL with redis.tls is a config error naming the field', () => {
    expect(() => parseGatewayConfig({
      region: 'east', listen: { port: 1 }, publicUrl: 'http://127.0.0.1:1',
      redis: { url: 'redis://127.0.0.1:1', tls: { caFile: 'ca.crt' } },
      cluster: { id: 'x', secret: 'redis-tls-test-secret-0123456789', regions: ['east'] },
      keyspaces: [{ name: 'carts' }],
    }, 'east.json')).toThrow(/east.json: redis.tls: needs a rediss:\/\/ URL/);
  });
});
