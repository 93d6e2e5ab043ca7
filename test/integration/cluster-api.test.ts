/**
 * The cluster-wide read API (gateway/http/cluster-routes.ts) on real gateways and
 * redis-servers: every region's status from any region, a region that does not answer named
 * within the timeout, one conflict of a split + heal listed once cluster-wide, and the
 * ownership decisions merged with the witness's reasons.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

type RegionEntry = { region: string; url: string; ok: boolean; ms: number; status?: { region: string; publicUrl: string; peers: unknown[] }; error?: string };
const getJson = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() as Record<string, unknown> };
};

describe('GET /v1/cluster', () => {
  it('answers every region\'s status, this region first; a stopped gateway is ok:false naming why, within the timeout', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const east = cluster.byName('east');
    const west = cluster.byName('west');
    const { status, body } = await getJson(`${east.gateway.url}/v1/cluster`);
    expect(status).toBe(200);
    expect(body.region).toBe('east');
    const regions = body.regions as RegionEntry[];
    expect(regions.map((r) => [r.region, r.ok])).toEqual([['east', true], ['west', true]]);
    expect(regions[0]!.status!.region).toBe('east');
    expect(regions[1]!.status!.region).toBe('west');
    // the client-facing URL, not the relay the link dials
    expect(regions[1]!.url).toBe(`http://127.0.0.1:${west.port}`);
    expect(regions[1]!.status!.publicUrl).toBe(`http://127.0.0.1:${west.port}`);
    expect(Array.isArray(regions[1]!.status!.peers)).toBe(true);

    // a blackholed link: the peer's entry says timeout, and the whole answer comes within the bound
    cluster.relay('east', 'west').cut('both', 'blackhole');
    let t0 = performance.now();
    const cut = await getJson(`${east.gateway.url}/v1/cluster?timeoutMs=300`);
    const cutMs = performance.now() - t0;
    const w1 = (cut.body.regions as RegionEntry[])[1]!;
    expect(w1).toMatchObject({ region: 'west', ok: false, error: 'timeout after 300 ms' });
    expect(cutMs).toBeLessThan(300 + 700);
    cluster.healAll();

    await cluster.stopGateway('west');
    t0 = performance.now();
    const down = await getJson(`${east.gateway.url}/v1/cluster`);
    expect(performance.now() - t0).toBeLessThan(1000 + 700);
    const [e, w] = down.body.regions as RegionEntry[];
    expect(e).toMatchObject({ region: 'east', ok: true });
    expect(w).toMatchObject({ region: 'west', ok: false });
    expect(w!.error).toMatch(/connection refused|connection reset|timeout after 1000 ms/);
    expect(w!.ms).toBeLessThanOrEqual(1100);

    expect((await getJson(`${east.gateway.url}/v1/cluster?timeoutMs=0`)).status).toBe(400);
    expect((await getJson(`${east.gateway.url}/v1/cluster?timeoutMs=10001`)).status).toBe(400);
  }, 60_000);

  it('with admin.protectReads needs the token, and does not send it to a peer over plain HTTP', async () => {
    cluster = await startCluster(['east', 'west'], { extra: { admin: { token: 'op-token-0123456789', protectReads: true } } });
    const east = cluster.byName('east');
    expect((await fetch(`${east.gateway.url}/v1/cluster`)).status).toBe(401);
    const res = await fetch(`${east.gateway.url}/v1/cluster`, { headers: { authorization: 'Bearer op-token-0123456789' } });
    const body = await res.json() as { regions: RegionEntry[] };
    expect(body.regions.map((r) => [r.region, r.ok])).toEqual([['east', true], ['west', false]]);
    expect((body.regions[1] as { error: string }).error).toMatch(/not sending the admin token to http:.* over plain HTTP/);
  }, 60_000);
});

describe('GET /v1/cluster/conflicts and /v1/cluster/decisions', () => {
  it('a conflict of a split + heal appears once, whichever region is asked', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, witness: true });
    const c = cluster;
    const east = c.byName('east');
    const west = c.byName('west');
    const before = Date.now();
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    // carts is multi-master + diverge: both sides take the key while the link is cut
    expect((await fetch(`${east.gateway.url}/v1/kv/carts/c-1`, { method: 'PUT', body: 'east-side' })).status).toBeLessThan(300);
    expect((await fetch(`${west.gateway.url}/v1/kv/carts/c-1`, { method: 'PUT', body: 'west-side' })).status).toBeLessThan(300);
    c.healAll();
    type Conflicts = { conflicts: { conflictId: string; key: string; region: string; keyspace: string; at: string }[]; regions: { region: string; ok: boolean }[] };
    let last: Conflicts | undefined;
    const journaled = await eventually(async () => {
      last = (await getJson(`${west.gateway.url}/v1/cluster/conflicts?keyspace=carts`)).body as unknown as Conflicts;
      return last.conflicts.some((x) => x.key === 'c-1');
    }, 20_000, 200);
    expect(journaled).toBe(true);
    expect(last!.regions.map((r) => [r.region, r.ok])).toEqual([['west', true], ['east', true]]);
    // both regions asked: the same conflict once (by conflictId), from the journal that holds it
    const fromEast = (await getJson(`${east.gateway.url}/v1/cluster/conflicts?keyspace=carts&since=${new Date(before).toISOString()}`)).body as unknown as Conflicts;
    const mine = fromEast.conflicts.filter((x) => x.key === 'c-1');
    expect(mine).toHaveLength(1);
    expect(new Set(fromEast.conflicts.map((x) => x.conflictId)).size).toBe(fromEast.conflicts.length);
    expect(['east', 'west']).toContain(mine[0]!.region);
    // since after the conflict: not listed
    const later = (await getJson(`${east.gateway.url}/v1/cluster/conflicts?since=${Date.now() + 1000}`)).body as unknown as Conflicts;
    expect(later.conflicts).toHaveLength(0);
    expect((await getJson(`${east.gateway.url}/v1/cluster/conflicts?limit=1001`)).status).toBe(400);
    expect((await getJson(`${east.gateway.url}/v1/cluster/conflicts?since=yesterday`)).status).toBe(400);

    // west isolated: the witness hands its orders partitions to east; the decision comes with
    // the witness's reason (a signed request) and the regions that saw it, once per epoch
    c.isolate('west');
    type Decisions = { decisions: { keyspace: string; partition: number; epoch: number; owner: string; reason: string | null; seenBy: string[] }[]; witness: { ok: boolean }; regions: { region: string; ok: boolean }[] };
    let d: Decisions | undefined;
    const moved = await eventually(async () => {
      d = (await getJson(`${east.gateway.url}/v1/cluster/decisions?limit=1000&timeoutMs=300`)).body as unknown as Decisions;
      return d.decisions.some((x) => x.keyspace === 'orders' && x.owner === 'east' && x.seenBy.includes('witness') && x.seenBy.includes('east'));
    }, 20_000, 250);
    expect(moved).toBe(true);
    expect(d!.witness.ok).toBe(true);
    expect(d!.regions).toMatchObject([{ region: 'east', ok: true }, { region: 'west', ok: false }]);
    const move = d!.decisions.find((x) => x.keyspace === 'orders' && x.owner === 'east')!;
    expect(move.reason).toBeTruthy();
    const keys = d!.decisions.map((x) => `${x.keyspace}/${x.partition}@${x.epoch}`);
    expect(new Set(keys).size).toBe(keys.length);
  }, 90_000);
});
