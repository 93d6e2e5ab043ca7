/**
 * Settings the voters and the peers must share (issue 9): a witness whose lease differs from
 * the gateways' refuses their votes, renewals and grant requests, naming the field; two
 * gateways whose placement differs refuse their link, both naming the field, and the dialer
 * backs off instead of redialling in a tight loop. Real redis-server processes, real
 * witness and gateways on loopback.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/index.js';
import { freePort } from '../../infra/local/ports.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';
import { silentLogger } from '../../infra/log.js';
import { runWitness } from '../../witness/index.js';
import { baseConfig, eventually, startCluster, startRedis, TEST_SECRET } from '../helpers/cluster.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function status(g: RunningGateway): Promise<any> {
  return (await fetch(`${g.url}/v1/status`)).json();
}
async function metric(url: string, line: RegExp): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const hit = text.split('\n').find((l) => line.test(l));
  return hit ? Number(hit.split(' ').at(-1)) : null;
}

/** A witness (its own config) and two gateways (baseConfig: orders and carts, 8 partitions each). */
async function witnessAndRegions(witnessLeaseMs: number) {
  const regions = ['east', 'west'];
  const dir = mkdtempSync(join(tmpdir(), 'geogate-settings-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'witness.json');
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, cluster: { id: 'test', secret: TEST_SECRET, regions },
    keyspaces: [{ name: 'orders', partitions: 8, onSplit: 'fence' }, { name: 'carts', partitions: 8, onSplit: 'diverge' }],
    stateFile: 'state.json', leaseMs: witnessLeaseMs, logLevel: 'silent',
  }));
  const witness = await runWitness(file, { init: true });
  cleanups.push(() => witness.close());
  const ports = new Map<string, number>();
  for (const r of regions) ports.set(r, await freePort());
  const gateways = new Map<string, RunningGateway>();
  for (const r of regions) {
    const { redis, dir: redisDir } = await startRedis();
    cleanups.push(async () => { await (redis as RedisProcess).stop(); rmSync(redisDir, { recursive: true, force: true }); });
    const peers = regions.filter((p) => p !== r).map((p) => ({ region: p, url: `http://127.0.0.1:${ports.get(p)}` }));
    const g = await startGateway(baseConfig(r, regions, redis.url, ports.get(r)!, { peers, witness: { url: witness.url } }), { log: silentLogger() });
    cleanups.push(() => g.close());
    gateways.set(r, g);
  }
  return { witness, gateways };
}

describe('shared settings at the handshakes', () => {
  it('a witness with another leaseMs than the gateways refuses them, naming the field; the gateways expose it', async () => {
    const { witness, gateways } = await witnessAndRegions(3000);
    const east = gateways.get('east')!;
    const named = 'leaseMs: witness 3000, region east 1500';
    expect(await eventually(async () => String((await status(east)).settings?.witness).includes(named), 10_000)).toBe(true);
    expect(await metric(east.url, /^geogate_settings_mismatch\{with="witness"/)).toBe(1);
    // the witness confirmed nothing and granted nothing to a region that disagrees
    const w = await (await fetch(`${witness.url}/metrics`)).text();
    expect(w).toMatch(/geogate_witness_settings_refusals_total\{region="east"\} [1-9]/);
    const { WitnessClient } = await import('../../witness/index.js');
    const admin = new WitnessClient({ url: witness.url, secret: TEST_SECRET, nowMs: () => Date.now() });
    const ws = (await admin.status()) as { promises: unknown[]; decisions: unknown[] };
    expect(ws.promises).toEqual([]);
    expect(ws.decisions).toEqual([]);
  }, 30_000);

  it('a witness with the same settings accepts them', async () => {
    const { gateways } = await witnessAndRegions(1500);
    const east = gateways.get('east')!;
    expect(await eventually(async () => (await status(east)).settings?.witness === 'agreed', 10_000)).toBe(true);
    expect(await metric(east.url, /^geogate_settings_mismatch\{with="witness"/)).toBe(0);
  }, 30_000);

  it('two gateways with different partition counts refuse their link, both naming the field, with backoff', async () => {
    const cluster = await startCluster(['east', 'west'], {
      waitWritable: false,
      perRegion: (r) => (r === 'west' ? { keyspaces: [{ name: 'orders', partitions: 4, onSplit: 'fence' }, { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' }] } : {}),
    });
    cleanups.push(() => cluster.stop());
    const east = cluster.byName('east').gateway;
    const west = cluster.byName('west').gateway;
    const named = (s: any, peer: string) => String(s.settings?.peers?.[peer] ?? '').includes('keyspaces.orders.partitions');
    expect(await eventually(async () => named(await status(east), 'west') && named(await status(west), 'east'), 10_000)).toBe(true);
    expect((await status(east)).settings.peers.west).toBe('keyspaces.orders.partitions: region east 8, region west 4');
    const peerRow = (await status(east)).peers.find((p: any) => p.region === 'west');
    expect(peerRow.lastCloseReason).toMatch(/settings/);
    expect(peerRow.state).not.toBe('up');
    // not a tight loop: the dialer backs off (100 ms doubling up to 5 s)
    const refusals = async () => {
      let n = 0;
      for (const g of [east, west]) n += (await metric(g.url, /^geogate_replication_auth_failures_total\{.*reason="settings"/)) ?? 0;
      return n;
    };
    const before = await refusals();
    await new Promise((r) => setTimeout(r, 3000));
    expect((await refusals()) - before).toBeLessThanOrEqual(12); // both sides count each attempt: at most 6 attempts in 3 s
  }, 30_000);
});
