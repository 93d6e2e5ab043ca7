/**
 * Real processes: east runs two instances (east-0 the coordinator, east-1 not), west one;
 * carts is multi-master. east's Redis comes back with older data under the running gateways
 * (what a failover to a replica that missed the last writes leaves: same identity, shorter
 * log): restored from a copy of its data keys taken after 6 of east-0's 10 writes, all 10 of
 * which west already holds.
 *
 * A single gateway refuses its next write (-7 store_reset) and handles the rollback (new log
 * incarnation, counter floor, repair); so must the region with two instances, whichever one
 * the writes reach. Failed first through east-1: its seq floor was its own, its writes got
 * seqs 7..10 again under the same incarnation (five 201s, data_lost 0, b1..b4 never at west),
 * and a7 written again got version east:1 (the one west holds with the old value): one
 * version, two values. Then, with the board's floor only, the rollback was noticed but the
 * coordinator kept shipping under the old incarnation (b1..b4 still never at west): its head
 * poll now reads the incarnation too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startInstances, type InstancesFixture, until } from '../helpers/instances.js';
import { StoreKeys } from '../../gateway/store/keys.js';

let fx: InstancesFixture | undefined;
afterEach(async () => { await fx?.stop(); fx = undefined; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

const COORDINATION_KEYS = /(coordinator|instances)/;

describe('a rolled-back store with two instances in the region (real processes)', () => {
  for (const through of ['east-1', 'east-0'] as const) it(`writes through ${through} (${through === 'east-1' ? 'not the coordinator' : 'the coordinator: control'}) neither reuse shipped seqs nor leave the regions diverged`, async () => {
    fx = await startInstances({ perRegion: { east: 2, west: 1 } });
    const f = fx;
    const east = f.byName('east');
    const [e0, e1] = east.instances as [typeof east.instances[0], typeof east.instances[0]];
    const w0 = f.byName('west').instances[0]!;
    expect((await f.coordinator('east'))?.id).toBe(e0.id);
    const put = async (url: string, key: string, value: string) => (await fetch(`${url}/v1/kv/carts/${key}`, { method: 'PUT', body: value })).status;
    const get = async (url: string, key: string) => { const r = await fetch(`${url}/v1/kv/carts/${key}`); return { status: r.status, text: await r.text(), etag: r.headers.get('etag') }; };
    await until('east\'s link to west', async () => (await (await fetch(`${e0.url}/v1/status`)).json() as any).peers.some((p: any) => p.region === 'west' && p.state === 'up'), 20_000);

    const raw = new Redis(east.redis.url);
    try {
      const keys = new StoreKeys(east.prefix, east.partitionOf);
      for (let i = 1; i <= 6; i++) expect(await put(e0.url, `a${i}`, `a${i}-old`)).toBeLessThan(300);
      await until('west has a1..a6', async () => (await get(w0.url, 'a6')).status === 200, 10_000);
      // the replica's copy: every data key of east's store as of now (not the coordinator's lease keys)
      const names = (await raw.keys(`${east.prefix}*`)).filter((k) => !COORDINATION_KEYS.test(k.slice(east.prefix.length)));
      const copy = await Promise.all(names.map(async (k) => [k, await raw.dumpBuffer(k), await raw.pttl(k)] as const));
      for (let i = 7; i <= 10; i++) expect(await put(e0.url, `a${i}`, `a${i}-old`)).toBeLessThan(300);
      await until('west has a7..a10', async () => (await get(w0.url, 'a10')).status === 200, 10_000);
      await sleep(300);

      // the failover: the data keys go back to the copy, in one transaction
      const now = (await raw.keys(`${east.prefix}*`)).filter((k) => !COORDINATION_KEYS.test(k.slice(east.prefix.length)));
      const tx = raw.multi();
      for (const k of now) tx.del(k);
      for (const [k, dump, ttl] of copy) if (dump) tx.restore(k, ttl > 0 ? ttl : 0, dump);
      await tx.exec();
      expect(await raw.get(keys.seq)).toBe('6');
      // clients reach east-1 (any instance takes writes)
      const writer = through === 'east-1' ? e1 : e0;
      const statuses = await Promise.all([1, 2, 3, 4, 5].map((i) => put(writer.url, `b${i}`, `b${i}`)));
      await sleep(1500); // past every instance's identity check
      // a7 (lost by east with the rollback) is written again
      const again = await put(writer.url, 'a7', 'a7-new');
      await sleep(3000);
      const a7East = await get(e1.url, 'a7');
      const a7West = await get(w0.url, 'a7');
      const bAtWest = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await get(w0.url, `b${i}`)).status));
      const lost = (await Promise.all([e0, e1].map((i) => metric(i.url, 'geogate_store_data_lost_total')))).reduce((a, b) => a + b, 0);
      const rolled = (await Promise.all([e0, e1].map((i) => metric(i.url, 'geogate_store_seqs_rolled_back_total')))).reduce((a, b) => a + b, 0);
      console.log(`${through} writes after the rollback: ${JSON.stringify(statuses)}; rollback noticed: data_lost ${lost}, seqs_rolled_back ${rolled}; `
        + `b1..b5 at west: ${JSON.stringify(bAtWest)}; a7 rewritten (${again}): east ${a7East.etag} "${a7East.text}", west ${a7West.etag} "${a7West.text}"`);
      const problems: string[] = [];
      if (statuses.some((s) => s < 300) && lost + rolled === 0) problems.push('writes accepted on the rolled-back store and no rollback noticed');
      if (statuses.some((s, i) => s < 300 && bAtWest[i] !== 200)) problems.push('acknowledged writes never reached west');
      if (again < 300 && a7West.text !== 'a7-new') problems.push(`a7 diverged: east "${a7East.text}" (${a7East.etag}), west "${a7West.text}" (${a7West.etag})`);
      expect(problems).toEqual([]);
    } finally {
      raw.disconnect();
    }
  }, 120_000);
});
