/**
 * The needs-repair mark survives a restart (issue 10): east's log was trimmed past west's
 * cursor, so east ships what its log still holds and west's applied cursor jumps past the
 * hole at once; only east's needs-repair mark still says the hole must be repaired. A
 * restart of east before that repair finished must not forget it. Real redis-servers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startGateway, type GatewayConfig } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { eventually } from '../helpers/cluster.js';
import { allHave, putAcked, runCleanups, twoRegions } from '../helpers/two-regions.js';

afterEach(runCleanups);

describe('needs-repair marks (real redis-server)', () => {
  it('a restart of the sender before the repair finished still repairs the hole; the mark is gone only afterwards', async () => {
    // east's first gateway keeps a log of 16 entries and runs no anti-entropy: the repair
    // its mark asks for cannot finish before the restart (the restart "during the repair")
    const { east, west } = await twoRegions({ appendOnly: true }, (region) =>
      (region === 'east' ? { log: { maxEntries: 16 }, antiEntropy: { enabled: false } }
        : { antiEntropy: { bootstrapWriteWaitMs: 0 } })); // (east answers no bootstrap pull)
    // west holds data of its own (its restart below is no bootstrap, which would pull the hole)
    expect(await putAcked(west.gateway, 'w0', 'w0-v')).toBeLessThan(300);
    await west.gateway.close(); // west's Redis keeps running
    const expected = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      expect(await putAcked(east.gateway, `g${i}`, `g${i}-v`)).toBeLessThan(300);
      expected.set(`g${i}`, `g${i}-v`);
    }
    // (a restart empties east's tail cache, which still held the trimmed entries)
    await east.gateway.close();
    east.gateway = await startGateway(east.config, { log: silentLogger() });
    west.gateway = await startGateway(west.config, { log: silentLogger() });
    // east notices the hole, ships what its log holds: west's cursor jumps to the head
    expect(await eventually(() => east.gateway.replicator!.status()[0]!.needsRepair, 10_000)).toBe(true);
    expect(await eventually(async () => (await west.gateway.store.appliedAll())[`east|${await east.gateway.store.incarnation()}`] === 60, 10_000)).toBe(true);
    const missingBefore = await allHave(west.gateway, expected);
    expect(missingBefore.length).toBeGreaterThan(40); // the hole

    // east restarts (anti-entropy on now); nothing else would repair west: east sorts first,
    // so west never runs the heal repair, and east saw west up at its start
    await east.gateway.close();
    const config: GatewayConfig = { ...east.config, antiEntropy: { ...east.config.antiEntropy, enabled: true } };
    east.gateway = await startGateway(config, { log: silentLogger() });
    const repaired = await eventually(async () => (await allHave(west.gateway, expected)).length === 0, 15_000, 100);
    const missing = await allHave(west.gateway, expected);
    expect(missing.slice(0, 10), `${missing.length} of ${expected.size} keys never reached west`).toEqual([]);
    expect(repaired).toBe(true);
    // the mark is cleared once the repair finished, in memory and in Redis
    expect(await eventually(() => !east.gateway.replicator!.status()[0]!.needsRepair, 10_000)).toBe(true);
    const raw = new Redis(east.redis.url);
    expect(await eventually(async () => (await raw.hlen(`${east.config.redis.keyPrefix}repair-marks`)) === 0, 5_000)).toBe(true);
    raw.disconnect();
  });
});
