/**
 * TLS and mutual TLS between sites on real sockets (issue 12): two regions (a redis-server
 * each) and a witness, every listener HTTPS, every link and vote under mutual TLS with
 * certificates made by the certs module in a temp dir; the cluster secret and the admin token
 * come from files. Refusals are checked on the wire (status, close) and in the metrics and
 * the log lines of the side that refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { PartitionMap, parseGatewayConfig, startGateway, type RunningGateway } from '../../gateway/index.js';
import { PROTOCOL_VERSION as PROTOCOL_VERSION_WITNESS, runWitness, WitnessClient } from '../../witness/index.js';
import { RedisProcess } from '../../infra/local/redis-process.js';
import { freePort } from '../../infra/local/ports.js';
import { WanRelay } from '../../infra/wan/index.js';
import { createCa, createNodeCert, dialTlsOptions, regionIdentity, WITNESS_IDENTITY, type NodeIdentity } from '../../security/index.js';
import { computeProof, newNonce } from '../../replicator/auth.js';
import { decodeFrame, encodeFrame, PROTOCOL_VERSION, type Frame } from '../../replicator/codec.js';
import { eventually } from '../helpers/cluster.js';

const SECRET = 'tls-test-cluster-secret-0123456789';
const NEW_SECRET = 'tls-test-rotated-secret-9876543210';
const TOKEN = 'tls-test-admin-token-0123456789';
const REGIONS = ['east', 'west'];
const KEYSPACES = [
  { name: 'orders', partitions: 4, onSplit: 'fence' },
  { name: 'carts', partitions: 4, onSplit: 'diverge', writes: 'multi-master' },
];

interface Files { certFile: string; keyFile: string; caFile: string }
interface Reply { status: number; text: string; json: any }

let dir: string;
let ca: string;
let clusterCa: string;
let publicCa: string;
const certs: Record<string, Files> = {};
const live: Record<string, Files> = {};
let westTls: Files & { client: { certFile: string; keyFile: string } };
const redis: RedisProcess[] = [];
const gateways: Record<string, RunningGateway> = {};
const logs: Record<string, string[]> = { east: [], west: [], witness: [] };
let witness: Awaited<ReturnType<typeof runWitness>>;
let relay: WanRelay;

function capture(name: string) {
  return pino({ level: 'info', base: { region: name } }, { write: (line: string) => { logs[name]!.push(line); } });
}

/** One HTTPS request trusting the cluster CA (optionally with a client certificate). */
function https(url: string, o: { method?: string; body?: string; token?: string; client?: Files; ca?: string; servername?: string } = {}): Promise<Reply> {
  const options: RequestOptions = {
    method: o.method ?? 'GET', ca: o.ca ?? ca,
    // asking for the cluster certificate by SNI, as nodes do: the chain is checked, not the name
    ...(o.servername ? { servername: o.servername, checkServerIdentity: () => undefined } : {}),
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}) },
    ...(o.client ? { cert: readFileSync(o.client.certFile), key: readFileSync(o.client.keyFile) } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

async function metric(url: string, line: RegExp): Promise<number> {
  const m = (await https(`${url}/metrics`, { token: TOKEN })).text.split('\n').find((l) => line.test(l));
  return m ? Number(m.split(' ').pop()) : 0;
}

async function node(sub: string, n: NodeIdentity, validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<Files> {
  const d = join(dir, sub);
  return { ...(await createNodeCert({ dir: d, caDir: sub === 'other' ? d : join(dir, 'ca'), node: n, ...validity })), caFile: join(dir, 'ca', 'ca.crt') };
}

/** A dial to `url`'s replication endpoint with a client certificate; resolves with what happened. */
function dialReplication(url: string, client: Files): Promise<{ opened: WebSocket } | { status: number; body: string } | { error: string }> {
  const ws = new WebSocket(url.replace(/^https/, 'wss') + '/v1/replication', {
    perMessageDeflate: false, cert: readFileSync(client.certFile), key: readFileSync(client.keyFile), ca,
  });
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ opened: ws }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    ws.once('error', (err) => resolve({ error: err.message }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geogate-tls-'));
  await createCa({ dir: join(dir, 'ca') });
  ca = readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8');
  for (const r of REGIONS) certs[r] = await node('ca', { region: r });
  certs.north = await node('ca', { region: 'north' });
  certs.witness = await node('ca', { witness: true });
  // west serves API clients a certificate of another CA (a public one, say); peers get the cluster's
  await createCa({ dir: join(dir, 'public'), commonName: 'a public CA' });
  publicCa = readFileSync(join(dir, 'public', 'ca.crt'), 'utf8');
  const publicWest = await createNodeCert({ dir: join(dir, 'public'), node: { region: 'west' } });
  clusterCa = ca;
  ca = clusterCa + publicCa; // this test's client trusts both
  // what the nodes run with: copies a rotation overwrites, and a CA bundle file
  mkdirSync(join(dir, 'live'));
  writeFileSync(join(dir, 'live', 'cas.pem'), clusterCa);
  for (const n of [...REGIONS, 'witness']) {
    copyFileSync(certs[n]!.certFile, join(dir, 'live', `${n}.crt`));
    copyFileSync(certs[n]!.keyFile, join(dir, 'live', `${n}.key`));
    live[n] = { certFile: join(dir, 'live', `${n}.crt`), keyFile: join(dir, 'live', `${n}.key`), caFile: join(dir, 'live', 'cas.pem') };
  }
  westTls = { ...live.west!, client: publicWest };
  await createCa({ dir: join(dir, 'other'), commonName: 'some other CA' });
  certs.otherEast = await node('other', { region: 'east' });
  const dayMs = 86_400_000;
  mkdirSync(join(dir, 'expired'));
  certs.expiredEast = { ...(await createNodeCert({ dir: join(dir, 'expired'), caDir: join(dir, 'ca'), node: { region: 'east' }, notBefore: new Date(Date.now() - 3 * dayMs), notAfter: new Date(Date.now() - dayMs) })), caFile: join(dir, 'ca', 'ca.crt') };
  // secrets and the token in files: the configs hold none
  writeFileSync(join(dir, 'east.secret'), `${SECRET}\n`);
  writeFileSync(join(dir, 'west.secret'), `${SECRET}\n`);
  writeFileSync(join(dir, 'witness.secret'), `${SECRET}\n`);
  writeFileSync(join(dir, 'admin.token'), `${TOKEN}\n`);

  const ports = { east: await freePort(), west: await freePort(), witness: await freePort() };
  // east dials west through a WAN relay (TCP): TLS must pass it untouched
  relay = new WanRelay({ listen: { host: '127.0.0.1', port: await freePort() }, target: { host: '127.0.0.1', port: ports.west } });
  const relayPort = (await relay.start()).port;
  const witnessFile = join(dir, 'witness.json');
  writeFileSync(witnessFile, JSON.stringify({
    listen: { host: '127.0.0.1', port: ports.witness },
    cluster: { id: 'tls', secretFile: 'witness.secret', regions: REGIONS }, credentials: { watchMs: 0 }, // reloads by hand here (file-watch.test.ts: on change)
    tls: live.witness, admin: { tokenFile: 'admin.token', protectReads: true },
    keyspaces: KEYSPACES.map((k) => {
      const map = new PartitionMap(parseGatewayConfig(gatewayRaw('east', 1, 'redis://x', {}), 'x').keyspaces.find((c) => c.name === k.name)!, REGIONS, 64);
      return { name: k.name, partitions: k.partitions, onSplit: k.onSplit, nodes: Array.from({ length: k.partitions }, (_, p) => map.nodeList(p).map((n) => n.region)) };
    }),
    stateFile: 'state.json', logLevel: 'silent',
  }));
  witness = await runWitness(witnessFile, { init: true });
  for (const r of REGIONS) redis.push(await RedisProcess.start({ dir: join(dir, `redis-${r}`) }));
  for (const [i, r] of REGIONS.entries()) {
    const peer = REGIONS[1 - i]!;
    const peerPort = r === 'east' ? relayPort : ports.east;
    const raw = gatewayRaw(r, ports[r as 'east' | 'west'], redis[i]!.url, {
      cluster: { id: 'tls', secretFile: `${r}.secret`, regions: REGIONS }, credentials: { watchMs: 0 },
      tls: r === 'west' ? westTls : live[r],
      peers: [{ region: peer, url: `https://127.0.0.1:${peerPort}`, publicUrl: `https://127.0.0.1:${ports[peer as 'east' | 'west']}` }],
      witness: { url: witness.url },
      admin: { tokenFile: join(dir, 'admin.token'), protectReads: true },
    });
    gateways[r] = await startGateway(parseGatewayConfig(raw, join(dir, `${r}.json`)), { log: capture(r), configDir: dir });
  }
}, 60_000);

/** PUTs a new key at east every few ms until stopped: the keys acknowledged, and how many PUTs failed. */
function steadyWrites(prefix: string): { stop(): Promise<{ acked: string[]; failed: number }> } {
  let stopped = false;
  const acked: string[] = [];
  let failed = 0;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const key = `${prefix}${i}`;
      try {
        if ((await https(`${gateways.east!.url}/v1/kv/carts/${key}`, { method: 'PUT', body: key })).status === 201) acked.push(key);
        else failed++;
      } catch { failed++; }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { async stop() { stopped = true; await loop; return { acked, failed }; } };
}

/** Every acknowledged key arrives at west (no write lost). */
async function allAtWest(keys: readonly string[]): Promise<boolean> {
  return eventually(async () => {
    for (const key of keys) if ((await gateways.west!.store.get('carts', key)) === null) return false;
    return true;
  }, 15_000);
}

function gatewayRaw(region: string, port: number, redisUrl: string, extra: Record<string, unknown>) {
  return {
    region, listen: { host: '127.0.0.1', port }, publicUrl: `https://127.0.0.1:${port}`,
    redis: { url: redisUrl, keyPrefix: 'tls:' }, cluster: { id: 'tls', secret: SECRET, regions: REGIONS },
    keyspaces: KEYSPACES, antiEntropy: { backgroundIntervalMs: 0 }, ...extra,
  };
}

afterAll(async () => {
  for (const g of Object.values(gateways)) await g.close().catch(() => {});
  await witness?.close().catch(() => {});
  await relay?.close().catch(() => {});
  for (const r of redis) await r.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS between sites (issue 12)', () => {
  it('two regions and the witness replicate over mutual TLS, through a TCP relay', async () => {
    const east = gateways.east!;
    const west = gateways.west!;
    expect(east.url).toMatch(/^https:/);
    expect(await eventually(async () => (await https(`${east.url}/v1/status`, { token: TOKEN })).json?.peers?.[0]?.linkState === 'established', 15_000)).toBe(true);
    expect(await eventually(async () => east.writesOpen() && west.writesOpen(), 15_000)).toBe(true);
    const put = await https(`${east.url}/v1/kv/carts/greeting`, { method: 'PUT', body: 'hello over tls' });
    expect(put.status).toBe(201);
    expect(await eventually(async () => (await https(`${west.url}/v1/kv/carts/greeting`)).text === 'hello over tls', 10_000)).toBe(true);
    // the witness answered the regions' votes (over mutual TLS): they hold leases
    expect(await eventually(async () => (await https(`${west.url}/v1/status`, { token: TOKEN })).json?.ownership?.leased > 0, 15_000)).toBe(true);
    expect(relay.stats().ab.bytesForwarded).toBeGreaterThan(0);
    const expiry = await metric(east.url, /^geogate_tls_certificate_expiry_seconds\{cert="node"/);
    expect(expiry / 86_400).toBeGreaterThan(360); // a year's certificate from the certs module
    expect(expiry / 86_400).toBeLessThan(366);
    expect((await metric(witness.url, /^geogate_tls_certificate_expiry_seconds\{cert="node"/)) / 86_400).toBeGreaterThan(360);
  });

  it('a plaintext client or peer against a TLS port is refused, and counted', async () => {
    const east = gateways.east!;
    const before = await metric(east.url, /^geogate_tls_handshake_failures_total\{reason="plaintext"/);
    await expect(fetch(east.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
    const ws = new WebSocket(east.url.replace('https:', 'ws:') + '/v1/replication');
    const outcome = await new Promise<string>((resolve) => { ws.once('open', () => resolve('open')); ws.once('error', (e) => resolve(e.message)); });
    expect(outcome).not.toBe('open');
    await expect(fetch(witness.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
    expect(await metric(east.url, /^geogate_tls_handshake_failures_total\{reason="plaintext"/)).toBeGreaterThanOrEqual(before + 2);
    expect(logs.east!.some((l) => l.includes('TLS handshake refused') && l.includes('plaintext'))).toBe(true);
  });

  it('a link with a certificate of another CA, an expired one, or none is refused before the handshake, logged and counted', async () => {
    const west = gateways.west!;
    const metricLine = /^geogate_replication_auth_failures_total\{peer="unknown",reason="certificate"/;
    const before = await metric(west.url, metricLine);
    const other = await dialReplication(west.url, certs.otherEast!);
    expect(other).toMatchObject({ status: 403 });
    expect((other as { body: string }).body).toMatch(/client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    const expired = await dialReplication(west.url, certs.expiredEast!);
    expect(expired).toMatchObject({ status: 403 });
    expect((expired as { body: string }).body).toMatch(/CERT_HAS_EXPIRED/);
    const bare = new WebSocket(west.url.replace(/^https/, 'wss') + '/v1/replication', { ca });
    const status = await new Promise<number>((resolve) => { bare.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)); bare.once('open', () => resolve(101)); bare.once('error', () => resolve(-1)); });
    expect(status).toBe(403);
    expect(await metric(west.url, metricLine)).toBe(before + 3);
    const line = logs.west!.find((l) => l.includes('replication link refused') && l.includes('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ reason: 'certificate', peer: 'unknown' });
  });

  it('a link whose certificate names another region than its HELLO claims is refused, logged and counted', async () => {
    const west = gateways.west!;
    const metricLine = /^geogate_replication_auth_failures_total\{peer="east",reason="certificate"/;
    const before = await metric(west.url, metricLine);
    // north's certificate is of the cluster CA and the dialer knows the secret: only the identity is wrong
    const dial = await dialReplication(west.url, certs.north!);
    expect('opened' in dial).toBe(true);
    const ws = (dial as { opened: WebSocket }).opened;
    const frames: Frame[] = [];
    ws.on('message', (d: Buffer) => { const r = decodeFrame(d); if (r.ok) frames.push(r.frame); });
    const closed = new Promise<string>((resolve) => ws.on('close', (_c, reason) => resolve(reason.toString())));
    const nonce = newNonce();
    ws.send(encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, region: 'east', clusterId: 'tls', incarnation: 'forged', nonce, applied: {}, proof: null }, 1 << 20));
    const reason = await closed;
    expect(reason).toMatch(/claims region east but the client certificate names region north/);
    expect(frames.some((f) => f.t === 'hello')).toBe(false); // refused before the server said anything
    expect(await metric(west.url, metricLine)).toBe(before + 1);
    expect(logs.west!.some((l) => l.includes('replication link refused') && l.includes('names region north'))).toBe(true);
    void computeProof; // (no proof was needed: the refusal comes first)
  });

  it('a dialer refuses a server whose certificate names another node', async () => {
    // the witness's certificate is of the cluster CA but names geogate://witness, not west
    const ws = new WebSocket(witness.url.replace(/^https/, 'wss') + '/v1/replication', {
      perMessageDeflate: false,
      ...(dialTlsOptions({ cert: readFileSync(certs.east!.certFile, 'utf8'), key: readFileSync(certs.east!.keyFile, 'utf8'), ca: [ca] }, regionIdentity('west')) as Record<string, unknown>),
    });
    const err = await new Promise<string>((resolve) => { ws.once('open', () => resolve('open')); ws.once('error', (e) => resolve(e.message)); });
    expect(err).toBe('the certificate names geogate://witness, not geogate://region/west');
  });

  it('the witness counts a vote only from a region certificate naming the voting region', async () => {
    const material = (f: Files) => ({ cert: readFileSync(f.certFile, 'utf8'), key: readFileSync(f.keyFile, 'utf8'), ca: [ca] });
    const before = await metric(witness.url, /^geogate_witness_auth_failures_total\{reason="certificate"/);
    const heartbeat = (client: WitnessClient, from: string) => client.heartbeat({ v: PROTOCOL_VERSION_WITNESS, from, peersUp: [] });
    // west's certificate, voting as east
    const asEast = new WitnessClient({ url: witness.url, secret: SECRET, nowMs: () => Date.now(), timeoutMs: 3000, tls: () => ({ ...dialTlsOptions(material(certs.west!), WITNESS_IDENTITY) }) });
    await expect(heartbeat(asEast, 'east')).rejects.toThrow(/403.*names geogate:\/\/region\/west, not geogate:\/\/region\/east/);
    // a certificate of another CA
    const other = new WitnessClient({ url: witness.url, secret: SECRET, nowMs: () => Date.now(), timeoutMs: 3000, tls: () => ({ ...dialTlsOptions(material(certs.otherEast!), WITNESS_IDENTITY) }) });
    await expect(heartbeat(other, 'east')).rejects.toThrow(/403.*client certificate refused/);
    expect(await metric(witness.url, /^geogate_witness_auth_failures_total\{reason="certificate"/)).toBe(before + 2);
    asEast.close();
    other.close();
  });

  it('the cluster view forwards the admin token to the peers over mutual TLS', async () => {
    const body = (await https(`${gateways.east!.url}/v1/cluster`, { token: TOKEN })).json as { regions: { region: string; ok: boolean; error?: string }[] };
    expect(body.regions.map((r) => [r.region, r.ok, r.error ?? ''])).toEqual([['east', true, ''], ['west', true, '']]);
  });

  it('operator endpoints refuse without the admin token (401, JSON) and accept with it', async () => {
    const east = gateways.east!;
    for (const path of ['/v1/status', '/v1/decisions', '/v1/conflicts', '/metrics']) {
      const none = await https(`${east.url}${path}`);
      expect(none.status, path).toBe(401);
      expect(none.json.error.code).toBe('unauthorized');
      expect((await https(`${east.url}${path}`, { token: 'not-the-admin-token-000000' })).status).toBe(401);
      expect((await https(`${east.url}${path}`, { token: TOKEN })).status, path).toBe(200);
    }
    const restore = await https(`${east.url}/v1/admin/restore`, { method: 'POST', body: '{}' });
    expect(restore.status).toBe(401);
    expect((await https(`${east.url}/v1/admin/restore`, { method: 'POST', body: '{}', token: TOKEN })).status).toBe(400); // past the guard
    expect((await https(`${east.url}/healthz`)).status).toBe(200); // liveness stays open
    expect(await metric(east.url, /^geogate_admin_auth_failures_total\{reason="missing"/)).toBeGreaterThanOrEqual(5);
    // the witness: decisions and status with the token (not only a signed request), metrics behind it
    expect((await https(`${witness.url}/v1/decisions`)).status).toBe(401);
    expect((await https(`${witness.url}/v1/decisions`, { token: 'not-the-admin-token-000000' })).status).toBe(401);
    const decisions = await https(`${witness.url}/v1/decisions`, { token: TOKEN });
    expect(decisions.status).toBe(200);
    expect(Array.isArray(decisions.json.decisions)).toBe(true);
    expect((await https(`${witness.url}/v1/status`, { token: TOKEN })).status).toBe(200);
    expect((await https(`${witness.url}/metrics`)).status).toBe(401);
    expect((await https(`${witness.url}/metrics`, { token: TOKEN })).status).toBe(200);
  });

  it('a client-facing certificate of another CA: API clients get it, peers (SNI cluster.geogate) the cluster one', async () => {
    const west = gateways.west!;
    expect((await https(`${west.url}/healthz`, { ca: publicCa })).status).toBe(200);
    await expect(https(`${west.url}/healthz`, { ca: clusterCa })).rejects.toThrow(/unable to verify|self.signed|certificate/i);
    expect((await https(`${west.url}/healthz`, { ca: clusterCa, servername: 'cluster.geogate' })).status).toBe(200);
    await expect(https(`${west.url}/healthz`, { ca: publicCa, servername: 'cluster.geogate' })).rejects.toThrow(/unable to verify|self.signed|certificate/i);
    // east's link to west (east dials) was made through the cluster certificate: the first test saw it established
    expect((await https(`${west.url}/v1/status`, { token: TOKEN })).json.peers[0].linkState).toBe('established');
  });

  it('secret rotation with reloads: the link never drops, new links come up under the new secret, writes keep replicating', async () => {
    const east = gateways.east!;
    const west = gateways.west!;
    const linkUp = async () => (await https(`${east.url}/v1/status`, { token: TOKEN })).json?.peers?.[0]?.linkState === 'established';
    const established = () => logs.east!.filter((l) => l.includes('replication link established')).length;
    let n = 0;
    const replicates = async () => {
      const key = `rot${n++}`;
      expect((await https(`${east.url}/v1/kv/carts/${key}`, { method: 'PUT', body: key })).status).toBe(201);
      expect(await eventually(async () => (await https(`${west.url}/v1/kv/carts/${key}`)).text === key, 10_000)).toBe(true);
    };
    const setSecrets = (text: string) => {
      for (const f of ['east.secret', 'west.secret', 'witness.secret']) writeFileSync(join(dir, f), text);
      expect(east.reloadCredentials()).toBe(true);
      expect(west.reloadCredentials()).toBe(true);
      expect(witness.reload()).toBe(true);
    };
    const reconnect = async () => {
      const before = established();
      relay.cut('both', 'reset');
      relay.heal();
      expect(await eventually(async () => established() > before && (await linkUp()), 15_000)).toBe(true);
    };
    const links = established();
    const writer = steadyWrites('srot');
    setSecrets(`${SECRET}\n${NEW_SECRET}\n`); // 1: accept both, sign with the old
    expect(established()).toBe(links);
    await replicates();
    setSecrets(`${NEW_SECRET}\n${SECRET}\n`); // 2: sign with the new
    await replicates();
    expect(established()).toBe(links); // reloads dropped no link
    await reconnect(); // a new handshake under the new signing secret
    setSecrets(`${NEW_SECRET}\n`); // 3: the old secret is gone
    await reconnect();
    await replicates();
    // a reload that cannot read its file keeps the credentials in use
    rmSync(join(dir, 'east.secret'));
    expect(east.reloadCredentials()).toBe(false);
    writeFileSync(join(dir, 'east.secret'), `${NEW_SECRET}\n`);
    await replicates();
    // writes went on through every step, and each acknowledged one reached west
    const { acked, failed } = await writer.stop();
    expect(failed).toBe(0);
    expect(acked.length).toBeGreaterThan(20);
    expect(await allAtWest(acked)).toBe(true);
  });

  it('CA rotation with reloads: a second CA accepted, certificates reissued under it, the first CA removed; links and votes go on', async () => {
    const east = gateways.east!;
    const west = gateways.west!;
    const established = () => logs.east!.filter((l) => l.includes('replication link established')).length;
    const linkUp = async () => (await https(`${east.url}/v1/status`, { token: TOKEN })).json?.peers?.[0]?.linkState === 'established';
    let n = 0;
    const replicates = async () => {
      const key = `ca${n++}`;
      expect((await https(`${east.url}/v1/kv/carts/${key}`, { method: 'PUT', body: key })).status).toBe(201);
      expect(await eventually(async () => (await https(`${west.url}/v1/kv/carts/${key}`)).text === key, 10_000)).toBe(true);
    };
    const reloadAll = () => {
      expect(east.reloadCredentials()).toBe(true);
      expect(west.reloadCredentials()).toBe(true);
      expect(witness.reload()).toBe(true);
    };
    const reconnect = async () => {
      const before = established();
      relay.cut('both', 'reset');
      relay.heal();
      expect(await eventually(async () => established() > before && (await linkUp()), 15_000)).toBe(true);
    };
    await createCa({ dir: join(dir, 'ca2'), commonName: 'geogate cluster CA 2' });
    const ca2 = readFileSync(join(dir, 'ca2', 'ca.crt'), 'utf8');
    const links = established();
    const writer = steadyWrites('carot');
    // 1: every node trusts both CAs
    writeFileSync(join(dir, 'live', 'cas.pem'), clusterCa + ca2);
    reloadAll();
    ca = ca + ca2; // this test's client trusts the new CA too
    await replicates();
    // 2: every node gets a certificate of the new CA
    for (const nodeName of [...REGIONS, 'witness']) {
      const f = await createNodeCert({ dir: join(dir, 'ca2'), node: nodeName === 'witness' ? { witness: true } : { region: nodeName } });
      copyFileSync(f.certFile, live[nodeName]!.certFile);
      copyFileSync(f.keyFile, live[nodeName]!.keyFile);
    }
    reloadAll();
    expect(established()).toBe(links); // reloads dropped no link
    await reconnect(); // the new link's both ends present certificates of the new CA
    await replicates();
    // 3: the first CA is removed
    writeFileSync(join(dir, 'live', 'cas.pem'), ca2);
    reloadAll();
    await reconnect();
    await replicates();
    // a certificate of the removed CA is refused now, by a region and by the witness
    expect(await dialReplication(west.url, certs.east!)).toMatchObject({ status: 403 });
    const material = (f: Files) => ({ cert: readFileSync(f.certFile, 'utf8'), key: readFileSync(f.keyFile, 'utf8'), ca: [ca2] });
    const oldCert = new WitnessClient({ url: witness.url, secret: NEW_SECRET, nowMs: () => Date.now(), timeoutMs: 3000, tls: () => ({ ...dialTlsOptions(material(certs.east!), WITNESS_IDENTITY) }) });
    await expect(oldCert.heartbeat({ v: PROTOCOL_VERSION_WITNESS, from: 'east', peersUp: [] })).rejects.toThrow(/403.*client certificate refused/);
    oldCert.close();
    const newCert = new WitnessClient({ url: witness.url, secret: NEW_SECRET, nowMs: () => Date.now(), timeoutMs: 3000, tls: () => ({ ...dialTlsOptions(material(live.east!), WITNESS_IDENTITY) }) });
    expect((await newCert.heartbeat({ v: PROTOCOL_VERSION_WITNESS, from: 'east', peersUp: [] })).v).toBe(PROTOCOL_VERSION_WITNESS);
    newCert.close();
    const { acked, failed } = await writer.stop();
    expect(failed).toBe(0);
    expect(acked.length).toBeGreaterThan(20);
    expect(await allAtWest(acked)).toBe(true);
  });
});
