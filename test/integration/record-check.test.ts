/**
 * Issue 10: every field of a record received from a peer is checked against the local
 * placement and bounds before it is applied. A peer that agrees on the settings (so the
 * handshake lets it in) but sends a record placed in another Merkle bucket, or stamped far
 * ahead of the local clock, had it applied before: a leaf in the wrong digest (roots never
 * agree again) or an HLC that every later local write must follow. Now the batch is refused,
 * nothing of it is applied or acked, the link closes with the record's problem as the reason,
 * and a counter names the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../replicator/codec.js';
import { packEntry } from '../../replicator/packed.js';
import { nextFrame, openRaw, rawHandshake, type RawPeer } from '../../replicator/testing/raw-peer.js';
import type { ChangeRecord } from '../../replicator/types.js';
import { PartitionMap } from '../../gateway/partition-map.js';
import { gatewaySettings } from '../../gateway/shared-settings.js';
import { baseConfig, startRegion, TEST_SECRET } from '../helpers/cluster.js';

type Region = Awaited<ReturnType<typeof startRegion>>;
const REGIONS = ['central', 'east']; // 'central' < 'east': the raw peer dials, east serves

describe('received records are checked against the local placement (real gateway and redis-server)', () => {
  let east: Region;
  let settings: unknown;
  let place: PartitionMap;
  beforeAll(async () => {
    east = await startRegion('east', REGIONS, { peers: [{ region: 'central', url: 'http://127.0.0.1:9' }] });
    const central = baseConfig('central', REGIONS, 'redis://127.0.0.1:9', 9);
    const maps = new Map(central.keyspaces.map((ks) => [ks.name, new PartitionMap(ks, central.cluster.regions, central.merkle.buckets)]));
    settings = gatewaySettings(central, maps);
    place = maps.get('carts')!;
  });
  afterAll(async () => {
    await east?.stop();
  });

  const peer = async (): Promise<RawPeer> => {
    const raw = await openRaw(east.gateway.url);
    await rawHandshake(raw, { region: 'central', serverRegion: 'east', clusterId: 'test', secret: TEST_SECRET, settings });
    return raw;
  };
  const change = (key: string, over: Partial<ChangeRecord> = {}, hlcMs = Date.now()): ChangeRecord => ({
    seq: 1, keyspace: 'carts', key, ...place.place(key),
    record: { vv: { central: 1 }, hlc: [hlcMs, 0], origin: 'central', epoch: 0, tombstone: false, value: new TextEncoder().encode('v'), contentType: 'text/plain' },
    ...over,
  });
  const rejected = async (reason: string): Promise<number> => {
    const text = await (await fetch(`${east.gateway.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('geogate_records_rejected_total{') && l.includes(`reason="${reason}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it.each([
    ['a Merkle bucket the local ring does not give the key', 'bucket', (c: ChangeRecord) => ({ ...c, bucket: (c.bucket + 1) % east.config.merkle.buckets }), /refused \(bucket\).*bucket/],
    ['a partition the local ring does not give the key', 'partition', (c: ChangeRecord) => ({ ...c, partition: (c.partition + 1) % 8 }), /refused \(partition\)/],
    ['an HLC wall time 10 minutes ahead of the local clock', 'hlc-ahead', (c: ChangeRecord) => ({ ...c, record: { ...c.record, hlc: [Date.now() + 600_000, 0] as [number, number] } }), /refused \(hlc-ahead\).*ahead of the local clock/],
  ])('%s: nothing applied or acked, the link closes naming the problem, counted', async (_what, reason, forge, message) => {
    const raw = await peer();
    raw.send({ t: 'changes', v: PROTOCOL_VERSION, records: [packEntry(forge(change(`bad-${reason}`)))] });
    const closed = await raw.closed;
    expect(closed.reason).toMatch(message);
    expect(raw.frames.filter((f) => f.t === 'ack')).toEqual([]);
    expect(await rejected(reason)).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it('a record that fits is applied and acked on the same link', async () => {
    const raw = await peer();
    raw.send({ t: 'changes', v: PROTOCOL_VERSION, records: [packEntry(change('good-1'))] });
    const ack = await nextFrame(raw, 'ack', 5_000);
    expect(ack).toMatchObject({ t: 'ack', seq: 1 });
    raw.ws.close();
  }, 20_000);
});
