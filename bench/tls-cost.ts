/**
 * What TLS costs, same run, same machine (issue 12): two 2-region clusters side by side, one
 * plain (http://, ws:// links), one with TLS everywhere (client HTTPS, mutual TLS links),
 * certificates from the certs module; rounds alternated between them. Per round: PUTs to
 * east with IN_FLIGHT in flight over keep-alive connections (writes/s, p99 ms), the time
 * until west acked every one of them (replicated records/s), east's view of the link lag
 * sampled every 5 ms meanwhile (p99 ms); then the cost of a reconnect: a fresh connection
 * and WebSocket upgrade to /v1/replication (TCP + TLS with client certificate + upgrade).
 * Run: node --import tsx bench/tls-cost.ts [rounds] [writesPerRound]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { parseGatewayConfig, startGateway, type RunningGateway } from '../gateway/index.js';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import { silentLogger } from '../infra/log.js';
import { createCa, createNodeCert } from '../security/index.js';

const rounds = Number(process.argv[2] ?? 4);
const writesPerRound = Number(process.argv[3] ?? 5_000);
const IN_FLIGHT = 32;
const RECONNECTS = 40;
const VALUE = Buffer.alloc(200, 0x61);
const SECRET = 'tls-bench-secret-0123456789abcdef';

interface Mode {
  name: 'plain' | 'tls';
  east: RunningGateway; west: RunningGateway; redis: RedisProcess[];
  put(path: string): Promise<number>;
  dialOptions: Record<string, unknown>;
  close(): Promise<void>;
}

async function mode(name: Mode['name'], dir: string): Promise<Mode> {
  const tls = name === 'tls';
  const certs = join(dir, 'certs');
  const redis = [await RedisProcess.start({ dir: join(dir, `${name}-east`) }), await RedisProcess.start({ dir: join(dir, `${name}-west`) })];
  const ports = [await freePort(), await freePort()];
  const scheme = tls ? 'https' : 'http';
  const gateways: RunningGateway[] = [];
  for (const [i, region] of ['east', 'west'].entries()) {
    const peer = i === 0 ? 'west' : 'east';
    gateways.push(await startGateway(parseGatewayConfig({
      region, listen: { host: '127.0.0.1', port: ports[i] }, publicUrl: `${scheme}://127.0.0.1:${ports[i]}`,
      redis: { url: redis[i]!.url, keyPrefix: 'tb:' }, cluster: { id: 'bench', secret: SECRET, regions: ['east', 'west'] },
      peers: [{ region: peer, url: `${scheme}://127.0.0.1:${ports[1 - i]}` }],
      keyspaces: [{ name: 'carts', partitions: 16, onSplit: 'diverge', writes: 'multi-master' }],
      antiEntropy: { backgroundIntervalMs: 0 },
      ...(tls ? { tls: { certFile: join(certs, `region-${region}.crt`), keyFile: join(certs, `region-${region}.key`), caFile: join(certs, 'ca.crt') } } : {}),
    }, `bench-${name}-${region}`), { log: silentLogger() }));
  }
  const [east, west] = gateways as [RunningGateway, RunningGateway];
  const ca = tls ? readFileSync(join(certs, 'ca.crt'), 'utf8') : undefined;
  const agent = tls ? new HttpsAgent({ keepAlive: true, maxSockets: IN_FLIGHT, ca }) : new HttpAgent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const request = tls ? httpsRequest : httpRequest;
  const put = (path: string) => new Promise<number>((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${east.url}${path}`, { method: 'PUT', agent, headers: { 'content-length': VALUE.byteLength } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode! < 300 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(VALUE);
  });
  const dialOptions = tls
    ? { ca, cert: readFileSync(join(certs, 'region-east.crt')), key: readFileSync(join(certs, 'region-east.key')), checkServerIdentity: () => undefined }
    : {};
  return {
    name, east, west, redis, put, dialOptions,
    async close() {
      agent.destroy();
      for (const g of gateways) await g.close();
      for (const r of redis) await r.stop();
    },
  };
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? Number.NaN;
}

async function round(m: Mode, offset: number): Promise<{ putsPerS: number; putP99Ms: number; replicatedPerS: number; lagP99Ms: number }> {
  const latencies: number[] = [];
  const lags: number[] = [];
  const sampler = setInterval(() => { lags.push(m.east.replicator!.status()[0]!.lagMs); }, 5);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => { for (let i = next++; i < writesPerRound; i = next++) latencies.push(await m.put(`/v1/kv/carts/k${offset + i}`)); };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const tPut = performance.now();
  while (m.east.replicator!.status()[0]!.lagEntries > 0) await new Promise((r) => setTimeout(r, 2));
  const tAcked = performance.now();
  clearInterval(sampler);
  return { putsPerS: writesPerRound / ((tPut - t0) / 1000), putP99Ms: p99(latencies), replicatedPerS: writesPerRound / ((tAcked - t0) / 1000), lagP99Ms: p99(lags) };
}

/** Median ms of a fresh connection + WebSocket upgrade to the replication endpoint. */
async function reconnectMs(m: Mode): Promise<number> {
  const times: number[] = [];
  const url = m.west.url.replace(/^http/, 'ws') + '/v1/replication';
  for (let i = 0; i < RECONNECTS; i++) {
    const t0 = performance.now();
    const ws = new WebSocket(url, { perMessageDeflate: false, ...m.dialOptions });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    times.push(performance.now() - t0);
    ws.terminate();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), 'geogate-tls-bench-'));
try {
  const certs = join(dir, 'certs');
  await createCa({ dir: certs });
  for (const region of ['east', 'west']) await createNodeCert({ dir: certs, node: { region } });
  const modes = [await mode('plain', dir), await mode('tls', dir)];
  while (!modes.every((m) => m.east.writesOpen() && m.east.replicator!.status()[0]!.linkState === 'established')) await new Promise((r) => setTimeout(r, 50));
  const results: Record<string, ReturnType<typeof round> extends Promise<infer R> ? R[] : never> = { plain: [], tls: [] };
  for (let r = 0; r < rounds; r++) {
    for (const m of r % 2 === 0 ? modes : [...modes].reverse()) results[m.name]!.push(await round(m, r * writesPerRound));
  }
  const reconnect = { plain: await reconnectMs(modes[0]!), tls: await reconnectMs(modes[1]!) };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = (k: 'putsPerS' | 'putP99Ms' | 'replicatedPerS' | 'lagP99Ms') => {
    const plain = median(results.plain!.map((x) => x[k]));
    const tls = median(results.tls!.map((x) => x[k]));
    return { plain: Math.round(plain * 10) / 10, tls: Math.round(tls * 10) / 10, ratio: Math.round((tls / plain) * 100) / 100 };
  };
  console.log(JSON.stringify({
    rounds, writesPerRound, inFlight: IN_FLIGHT,
    putsPerS: summary('putsPerS'), putP99Ms: summary('putP99Ms'), replicatedPerS: summary('replicatedPerS'), lagP99Ms: summary('lagP99Ms'),
    reconnectMedianMs: { plain: Math.round(reconnect.plain * 100) / 100, tls: Math.round(reconnect.tls * 100) / 100, ratio: Math.round((reconnect.tls / reconnect.plain) * 100) / 100 },
  }, null, 2));
  for (const m of modes) await m.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
