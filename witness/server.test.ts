import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { signRequest } from './auth.js';
import { loadWitnessConfig, parseWitnessConfig } from './config.js';
import { StateFileMissingError, WitnessConfigError } from './errors.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { main } from '../infra/cli/main.js';
import { createWitness } from './server.js';

const SECRET = 'a-cluster-secret-of-some-length';
let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'geogate-witness-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

function config(extra: Record<string, unknown> = {}) {
  return parseWitnessConfig({
    listen: { host: '127.0.0.1', port: 0 },
    cluster: { id: 'c1', secret: SECRET, regions: ['a', 'b'] },
    keyspaces: [{ name: 'ks', partitions: 2 }],
    stateFile: join(dir, 'state.json'),
    leaseMs: 300,
    driftMarginMs: 30,
    minOwnershipChangeIntervalMs: 0,
    ...extra,
  }, join(dir, 'witness.json'));
}

async function setup(extra: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const w = await createWitness(config(extra), clock, silentLogger(), { init: true });
  const call = (method: string, path: string, payload?: unknown, secret = SECRET) => {
    const body = payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload);
    const headers = { ...signRequest(secret, method, path, body, clock.nowMs()), 'content-type': 'application/json' };
    return w.app.request(path, { method, headers, ...(body ? { body } : {}) });
  };
  return { clock, w, call };
}

describe('witness HTTP API', () => {
  it('answers 401 to a wrong secret, a missing signature and a replay', async () => {
    const { w, call, clock } = await setup();
    expect((await call('GET', '/v1/status', undefined, 'wrong-secret-wrong-secret')).status).toBe(401);
    expect((await w.app.request('/v1/status')).status).toBe(401);
    const headers = signRequest(SECRET, 'GET', '/v1/decisions', '', clock.nowMs());
    expect((await w.app.request('/v1/decisions', { headers })).status).toBe(200);
    expect((await w.app.request('/v1/decisions', { headers })).status).toBe(401);
    clock.skewWall(60_000);
    expect((await w.app.request('/v1/decisions', { headers: signRequest(SECRET, 'GET', '/v1/decisions', '', clock.nowMs() - 60_000) })).status).toBe(401);
    expect((await w.app.request('/healthz')).status).toBe(200);
  });

  it('answers 400 to bad bodies and 413 past bodyBytesMax', async () => {
    const { call } = await setup({ bodyBytesMax: 2048 });
    expect((await call('POST', '/v1/grant', '{not json')).status).toBe(400);
    const bad = await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'a', peersUp: 'b' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/peersUp/);
    const big = { v: PROTOCOL_VERSION, from: 'a', round: 1, items: Array.from({ length: 60 }, (_, p) => ({ keyspace: 'ks', partition: p, epoch: 0 })) };
    expect((await call('POST', '/v1/confirm', big)).status).toBe(413);
  });

  it('takes the coordinator term on the wire: a released failback of an older term is refused and counted', async () => {
    const { call, clock } = await setup();
    clock.advance(1000); // past the boot quiet period
    expect((await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'b', term: 0, peersUp: [] })).status).toBe(400);
    expect((await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'b', term: 'x', peersUp: [] })).status).toBe(400);
    expect((await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'b', term: 1, peersUp: [] })).status).toBe(200);
    const take = await call('POST', '/v1/grant', { v: PROTOCOL_VERSION, from: 'b', term: 1, keyspace: 'ks', partition: 0, knownEpoch: 0, reason: 'owner-unreachable' });
    expect(await take.json()).toMatchObject({ outcome: 'granted', owner: 'b', epoch: 1 });
    expect((await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'a', peersUp: ['b'] })).status).toBe(200);
    expect((await call('POST', '/v1/confirm', { v: PROTOCOL_VERSION, from: 'b', term: 2, round: 1, items: [{ keyspace: 'ks', partition: 0, epoch: 1 }] })).status).toBe(200);
    const released = { v: PROTOCOL_VERSION, from: 'b', term: 1, keyspace: 'ks', partition: 0, knownEpoch: 1, reason: 'failback', target: 'a', released: true };
    const stale = await call('POST', '/v1/grant', released);
    expect(stale.status).toBe(200);
    expect(await stale.json()).toMatchObject({ outcome: 'refused', owner: 'b', epoch: 1, reason: expect.stringMatching(/^stale-term: released by b's coordinator term 1, its latest term is 2/) });
    const metrics = await (await call('GET', '/metrics')).text();
    expect(metrics).toMatch(/geogate_witness_grant_requests_total\{outcome="refused",reason="stale-term"\} 1/);
    const current = await call('POST', '/v1/grant', { ...released, term: 2 });
    expect(await current.json()).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
  });

  it('refuses with 503 when the replay cache is at replayCacheMax', async () => {
    const { call } = await setup({ replayCacheMax: 2 });
    expect((await call('GET', '/v1/status')).status).toBe(200);
    expect((await call('GET', '/v1/status')).status).toBe(200);
    const full = await call('GET', '/v1/status');
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
  });

  it('persists a grant before answering and counts it in the metrics', async () => {
    const { clock, call, w } = await setup();
    clock.advance(400);
    expect((await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'b', peersUp: [] })).status).toBe(200);
    const res = await call('POST', '/v1/grant', { v: PROTOCOL_VERSION, from: 'b', keyspace: 'ks', partition: 0, knownEpoch: 0, reason: 'owner-unreachable' });
    expect(await res.json()).toMatchObject({ outcome: 'granted', owner: 'b', epoch: 1 });
    const again = await createWitness(config(), new FakeClock(), silentLogger());
    expect(again.core.ownerOf('ks/0')).toEqual({ owner: 'b', epoch: 1 });
    const metrics = await (await w.app.request('/metrics')).text();
    expect(metrics).toMatch(/geogate_witness_decisions_total\{reason="owner-unreachable"\} 1/);
  });
});

describe('witness batch grants', () => {
  it('grants several partitions in one call, persisted before the answer; refuses items from someone else', async () => {
    const { clock, call } = await setup();
    clock.advance(400);
    await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'b', peersUp: [] });
    const item = (partition: number, from = 'b') => ({ v: PROTOCOL_VERSION, from, keyspace: 'ks', partition, knownEpoch: 0, reason: 'owner-unreachable' });
    const res = await call('POST', '/v1/grants', { v: PROTOCOL_VERSION, from: 'b', items: [item(0), item(1)] });
    expect(res.status).toBe(200);
    expect((await res.json()).items.map((r: { partition: number; outcome: string }) => `${r.partition}:${r.outcome}`)).toEqual(['0:granted', '1:unchanged']);
    const again = await createWitness(config(), new FakeClock(), silentLogger());
    expect(again.core.ownerOf('ks/0')).toEqual({ owner: 'b', epoch: 1 });
    const forged = await call('POST', '/v1/grants', { v: PROTOCOL_VERSION, from: 'b', items: [item(0, 'a')] });
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('every item must come from the caller');
  });
});

describe('witness state file at start', () => {
  it('refuses to start without the state file unless told init, naming the file', async () => {
    const path = join(dir, 'state.json');
    const err = await createWitness(config(), new FakeClock(), silentLogger()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateFileMissingError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(/--init/);
    await expect(access(path)).rejects.toThrow();
  });

  it('with init creates the state file before serving; a restart without init restores it', async () => {
    const path = join(dir, 'state.json');
    await createWitness(config(), new FakeClock(), silentLogger(), { init: true });
    await access(path);
    const again = await createWitness(config(), new FakeClock(), silentLogger());
    expect(again.core.ownerOf('ks/0')).toEqual({ owner: 'a', epoch: 0 });
    // init with the file present is ignored: the state is restored, not reset
    const { clock, call } = await setup();
    clock.advance(400);
    await call('POST', '/v1/heartbeat', { v: PROTOCOL_VERSION, from: 'b', peersUp: [] });
    await call('POST', '/v1/grant', { v: PROTOCOL_VERSION, from: 'b', keyspace: 'ks', partition: 0, knownEpoch: 0, reason: 'owner-unreachable' });
    const restored = await createWitness(config(), new FakeClock(), silentLogger(), { init: true });
    expect(restored.core.ownerOf('ks/0')).toEqual({ owner: 'b', epoch: 1 });
  });

  it('`geogate witness` exits non-zero naming the missing file and --init', async () => {
    const file = join(dir, 'witness.json');
    await writeFile(file, JSON.stringify({ listen: { port: 0 }, cluster: { id: 'c1', secret: SECRET, regions: ['a'] }, keyspaces: [{ name: 'k', partitions: 1 }], stateFile: 'missing.json', logLevel: 'silent' }));
    let stderr = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
    try {
      expect(await main(['witness', '--config', file])).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr).toContain(join(dir, 'missing.json'));
    expect(stderr).toMatch(/pass --init/);
  });
});

describe('witness config', () => {
  it('names the bad field and the file', async () => {
    const file = join(dir, 'witness.json');
    await writeFile(file, JSON.stringify({ listen: { port: 1 }, cluster: { id: 'c', secret: 'short', regions: ['a'] }, keyspaces: [{ name: 'k', partitions: 1 }], stateFile: 's' }));
    expect(() => loadWitnessConfig(file)).toThrow(WitnessConfigError);
    expect(() => loadWitnessConfig(file)).toThrow(new RegExp(`${file}: cluster.secret`));
    expect(() => config({ driftMarginMs: 300 })).toThrow(/driftMarginMs: must be below leaseMs/);
  });
});
