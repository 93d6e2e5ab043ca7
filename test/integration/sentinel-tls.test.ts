/**
 * Redis over TLS in Sentinel mode (issue 12 item 2): a master, a replica and 3 sentinels that
 * all listen on TLS only, ask every client for a certificate of the CA (tls-auth-clients yes)
 * and replicate and monitor over TLS (tls-replication yes). The gateway reaches the sentinels
 * and the master they name with redis.tls { caFile, certFile, keyFile }, serves writes, and
 * serves them again after a forced failover; without a client certificate the store never
 * answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseGatewayConfig, startGateway, type RunningGateway } from '../../gateway/index.js';
import { createCa, createNodeCert } from '../../security/index.js';
import { freePort } from '../../infra/local/ports.js';
import { silentLogger } from '../../infra/log.js';
import { eventually } from '../helpers/cluster.js';

const NAME = 'geogate';
let dir = '';
let ca = '';
const procs: ChildProcess[] = [];
const gateways: RunningGateway[] = [];
let ports: { master: number; replica: number; sentinels: number[] };

function tlsArgs(): string[] {
  return ['--tls-cert-file', join(ca, 'region-redis.crt'), '--tls-key-file', join(ca, 'region-redis.key'),
    '--tls-ca-cert-file', join(ca, 'ca.crt'), '--tls-auth-clients', 'yes', '--tls-replication', 'yes'];
}

function start(args: string[], ready: RegExp): Promise<void> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  return new Promise<void>((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => { out += d.toString(); if (ready.test(out)) resolve(); };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`redis-server ${args[0]} exited ${code}: ${out.slice(-500)}`)));
  });
}

function client(port: number): Redis {
  return new Redis({
    host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1,
    tls: { ca: readFileSync(join(ca, 'ca.crt')), cert: readFileSync(join(ca, 'region-east.crt')), key: readFileSync(join(ca, 'region-east.key')) },
  });
}

async function gateway(tls: Record<string, unknown>): Promise<RunningGateway> {
  const port = await freePort();
  const g = await startGateway(parseGatewayConfig({
    region: 'east', listen: { host: '127.0.0.1', port }, publicUrl: `http://127.0.0.1:${port}`,
    redis: { sentinels: ports.sentinels.map((p) => `127.0.0.1:${p}`), name: NAME, keyPrefix: `st${gateways.length}:`, commandTimeoutMs: 1000, tls },
    cluster: { id: 'stls', secret: 'sentinel-tls-test-secret-0123456789', regions: ['east'] },
    keyspaces: [{ name: 'carts', partitions: 2, onSplit: 'diverge', writes: 'multi-master' }],
  }, 'east.json'), { log: silentLogger() });
  gateways.push(g);
  return g;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geogate-sentinel-tls-'));
  ca = join(dir, 'ca');
  await createCa({ dir: ca });
  await createNodeCert({ dir: ca, node: { region: 'redis' } }); // localhost, 127.0.0.1
  await createNodeCert({ dir: ca, node: { region: 'east' } });
  ports = { master: await freePort(), replica: await freePort(), sentinels: [await freePort(), await freePort(), await freePort()] };
  for (const [role, port] of [['master', ports.master], ['replica', ports.replica]] as const) {
    mkdirSync(join(dir, role));
    await start(['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--dir', join(dir, role), '--save', '', '--appendonly', 'no',
      ...tlsArgs(), ...(role === 'replica' ? ['--replicaof', '127.0.0.1', String(ports.master)] : [])], /Ready to accept connections/);
  }
  for (const [i, port] of ports.sentinels.entries()) {
    const conf = join(dir, `sentinel-${i}.conf`);
    writeFileSync(conf, [
      'port 0', `tls-port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `tls-cert-file ${join(ca, 'region-redis.crt')}`, `tls-key-file ${join(ca, 'region-redis.key')}`, `tls-ca-cert-file ${join(ca, 'ca.crt')}`,
      'tls-auth-clients yes', 'tls-replication yes',
      `sentinel monitor ${NAME} 127.0.0.1 ${ports.master} 2`, `sentinel down-after-milliseconds ${NAME} 5000`, `sentinel failover-timeout ${NAME} 5000`, '',
    ].join('\n'));
    await start([conf, '--sentinel'], /Sentinel ID is|monitor master/);
  }
  // the replica is in sync with the master over TLS
  expect(await eventually(async () => {
    const r = client(ports.replica);
    try { await r.connect(); return /master_link_status:up/.test(await r.info('replication')); } catch { return false; } finally { r.disconnect(); }
  }, 20_000, 200)).toBe(true);
  // every sentinel sees the replica (over TLS) before the test asks for a failover
  expect(await eventually(async () => {
    for (const p of ports.sentinels) {
      const s = client(p);
      try {
        await s.connect();
        const replicas = await s.call('SENTINEL', 'REPLICAS', NAME) as unknown[];
        if (replicas.length === 0) return false;
      } catch { return false; } finally { s.disconnect(); }
    }
    return true;
  }, 20_000, 200)).toBe(true);
}, 60_000);

afterAll(async () => {
  for (const g of gateways) await g.close().catch(() => {});
  for (const p of procs) p.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('Sentinel mode over TLS', () => {
  it('serves through TLS sentinels and a TLS master, and again after a forced failover', async () => {
    const g = await gateway({ caFile: join(ca, 'ca.crt'), certFile: join(ca, 'region-east.crt'), keyFile: join(ca, 'region-east.key') });
    expect(await eventually(async () => (await fetch(`${g.url}/v1/kv/carts/before`, { method: 'PUT', body: 'tls-1' })).status === 201, 15_000, 100)).toBe(true);
    expect(await (await fetch(`${g.url}/v1/kv/carts/before`)).text()).toBe('tls-1');
    // the write reached the replica (over TLS) before the failover: nothing acknowledged is lost by it
    const r = client(ports.replica);
    await r.connect();
    expect(await eventually(async () => (await r.keys('st*')).length > 0, 10_000, 100)).toBe(true);
    r.disconnect();
    const s = client(ports.sentinels[0]!);
    await s.connect();
    expect(await s.call('SENTINEL', 'FAILOVER', NAME)).toBe('OK');
    const promoted = async () => Number(((await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1]) === ports.replica;
    expect(await eventually(promoted, 20_000, 200)).toBe(true);
    s.disconnect();
    // the gateway follows the sentinels to the new master, over TLS
    expect(await eventually(async () => (await fetch(`${g.url}/v1/kv/carts/after`, { method: 'PUT', body: 'tls-2' })).status === 201, 20_000, 200)).toBe(true);
    expect(await (await fetch(`${g.url}/v1/kv/carts/before`)).text()).toBe('tls-1'); // replicated before the failover
    const m = client(ports.replica);
    await m.connect();
    expect((await m.call('ROLE') as unknown[])[0]).toBe('master');
    m.disconnect();
  }, 60_000);

  it('without a client certificate the store never answers', async () => {
    const g = await gateway({ caFile: join(ca, 'ca.crt') });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await fetch(`${g.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${g.url}/v1/kv/carts/x`, { method: 'PUT', body: 'x' })).status).toBe(503);
  }, 30_000);
});
