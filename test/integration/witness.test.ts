import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, WitnessClient, WitnessHttpError, runWitness } from '../../witness/index.js';

const SECRET = 'integration-secret-0123456789';
const LEASE_MS = 400;
let dir: string;
let closeFn: (() => Promise<void>) | null = null;

beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'geogate-witness-it-')); });
afterEach(async () => {
  await closeFn?.();
  closeFn = null;
  await rm(dir, { recursive: true, force: true });
});

async function start(port: number, init = false) {
  const file = join(dir, 'witness.json');
  await writeFile(file, JSON.stringify({
    listen: { host: '127.0.0.1', port },
    cluster: { id: 'it', secret: SECRET, regions: ['a', 'b'] },
    keyspaces: [{ name: 'ks', partitions: 2 }],
    stateFile: 'state.json',
    leaseMs: LEASE_MS,
    driftMarginMs: 40,
    minOwnershipChangeIntervalMs: 0,
    regionSilenceMs: 200,
    logLevel: 'silent',
  }));
  const w = await runWitness(file, { init });
  closeFn = w.close;
  return { ...w, client: new WitnessClient({ url: w.url, secret: SECRET, timeoutMs: 1000, nowMs: () => Date.now() }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const confirmItem = (c: WitnessClient, from: string, epoch: number) =>
  c.confirm({ v: PROTOCOL_VERSION, from, round: 1, items: [{ keyspace: 'ks', partition: 0, epoch }] }).then((r) => r.items[0]);

describe('witness service (real process pieces, loopback)', () => {
  it('grants, survives a restart with epochs intact, and stays quiet for leaseMs after boot', async () => {
    let w = await start(0, true);
    const port = Number(new URL(w.url).port);
    expect(await confirmItem(w.client, 'a', 0)).toMatchObject({ ok: false, reason: 'quiet' });
    await sleep(LEASE_MS + 50);
    await w.client.heartbeat({ v: PROTOCOL_VERSION, from: 'b', peersUp: [] });
    const g = await w.client.grant({ v: PROTOCOL_VERSION, from: 'b', keyspace: 'ks', partition: 0, knownEpoch: 0, reason: 'owner-unreachable' });
    expect(g).toMatchObject({ outcome: 'granted', owner: 'b', epoch: 1 });

    await w.close();
    closeFn = null;
    w = await start(port);
    const bootAt = Date.now();
    const hb = await w.client.heartbeat({ v: PROTOCOL_VERSION, from: 'b', peersUp: [] });
    expect(hb.quiet).toBe(true);
    expect(hb.owners.find((o) => o.partition === 0)).toEqual({ keyspace: 'ks', partition: 0, owner: 'b', epoch: 1 });
    expect(await confirmItem(w.client, 'b', 1)).toMatchObject({ ok: false, reason: 'quiet' });
    expect(await w.client.grant({ v: PROTOCOL_VERSION, from: 'a', keyspace: 'ks', partition: 0, knownEpoch: 1, reason: 'owner-unreachable' }))
      .toMatchObject({ outcome: 'refused', reason: 'quiet' });
    await sleep(LEASE_MS - (Date.now() - bootAt) + 50);
    await w.client.heartbeat({ v: PROTOCOL_VERSION, from: 'b', peersUp: [] });
    expect(await confirmItem(w.client, 'b', 1)).toMatchObject({ ok: true, epoch: 1 });
    expect(await confirmItem(w.client, 'a', 0)).toMatchObject({ ok: false, reason: 'stale-epoch', owner: 'b', epoch: 1 });
    const decisions = (await w.client.decisions()) as { decisions: Array<{ epoch: number; toOwner: string }> };
    expect(decisions.decisions).toMatchObject([{ epoch: 1, toOwner: 'b' }]);

    const wrong = new WitnessClient({ url: w.url, secret: 'not-the-cluster-secret', nowMs: () => Date.now() });
    await expect(wrong.status()).rejects.toThrow(WitnessHttpError);
  });
});
