/**
 * Several gateway instances per region (issue 15), real processes: east runs two instances
 * over its Redis, west one; the workload writes through east's second instance and west.
 *  - the coordinator (east-0) is killed (SIGKILL) mid-load: east-1 coordinates within 2 s,
 *    replication to west resumes, and the history checker finds no acknowledged write lost;
 *  - the coordinator is frozen (SIGSTOP) past its lease and resumed after east-1 took over:
 *    it steps down (its status and metrics say so), east-1 keeps the lease, nothing is
 *    duplicated or lost.
 * The store's refusal of a stale coordinator's scripts is shown directly in
 * coordinator-store.test.ts.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHistory, formatReport } from '../checker/checker.js';
import { settle, type RegionStoreAccess } from '../checker/observe.js';
import { Workload } from '../checker/workload.js';
import { startInstances, type Instance, type InstancesFixture } from '../helpers/instances.js';

let fx: InstancesFixture | undefined;
afterEach(async () => { await fx?.stop(); fx = undefined; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusOf(inst: Instance): Promise<any> {
  return (await fetch(`${inst.url}/v1/status`, { signal: AbortSignal.timeout(2000) })).json();
}

/** The answer to a WebSocket upgrade of `url` (status and body when it is refused). */
function upgradeAnswer(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve({ status: 101, body: '' }); });
    req.on('error', reject);
    req.end();
  });
}

async function metric(inst: Instance, name: string): Promise<number> {
  const text = await (await fetch(`${inst.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

/** Polls until `inst` says it coordinates (and the region's Redis names it); ms since `since`. */
async function untilCoordinates(f: InstancesFixture, inst: Instance, since: number, boundMs: number): Promise<number> {
  while (Date.now() - since < boundMs + 3000) {
    const s = await statusOf(inst).catch(() => null);
    if (s?.coordination?.role === 'coordinator' && (await f.coordinator(inst.region))?.id === inst.id) return Date.now() - since;
    await sleep(20);
  }
  throw new Error(`${inst.id} did not coordinate within ${boundMs + 3000} ms:\n${f.logs(inst)}`);
}

/** West has applied everything east's log holds (lag 0 on west's link status). */
async function untilReplicated(f: InstancesFixture, boundMs: number): Promise<void> {
  const west = f.byName('west').instances[0]!;
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    const s = await statusOf(west).catch(() => null);
    const east = s?.peers?.find((p: any) => p.region === 'east');
    if (east?.state === 'up') return;
    await sleep(50);
  }
  throw new Error('west did not see east up again');
}

function storesOf(f: InstancesFixture): RegionStoreAccess[] {
  return f.regions.map((r) => {
    const u = new URL(r.redis.url);
    return { region: r.region, url: r.instances.at(-1)!.url, redisHost: u.hostname, redisPort: Number(u.port), prefix: r.prefix, partitionOf: r.partitionOf };
  });
}

async function check(f: InstancesFixture, history: Awaited<ReturnType<Workload['run']>>): Promise<void> {
  const settled = await settle(storesOf(f), [...new Set(history.ops.map((op) => `${op.keyspace}/${op.key}`))], 30_000);
  const result = checkHistory({ ops: history.ops, finals: settled.finals, journal: settled.journal, fenceKeyspaces: new Set(['orders']), lwwKeyspaces: new Set(['carts']) });
  const report = formatReport(result, history.ops);
  expect(settled.unsettled, report).toBeUndefined();
  expect(result.violations, report).toEqual([]);
  const acked = history.ops.filter((o) => o.status === 'ok' && o.kind !== 'read').length;
  expect(acked).toBeGreaterThan(100);
}

describe('several gateway instances per region (real processes)', () => {
  it('the coordinator killed mid-load: the other instance coordinates within 2 s, replication resumes, no acknowledged write lost', async () => {
    fx = await startInstances({ perRegion: { east: 2, west: 1 } });
    const f = fx;
    const [e0, e1] = f.byName('east').instances as [Instance, Instance];
    const w0 = f.byName('west').instances[0]!;
    await untilCoordinates(f, e0, Date.now(), 5000);
    expect((await statusOf(e1)).coordination).toMatchObject({ role: 'instance', coordinator: { id: 'east-0', url: e0.url } });
    await untilReplicated(f, 10_000);
    const workload = new Workload({
      targets: [{ region: 'east', url: e1.url, publicUrl: e1.url }, { region: 'west', url: w0.url, publicUrl: w0.url }],
      fenceKeyspace: 'orders', divergeKeyspace: 'carts', keyPrefix: `co-kill-${Date.now().toString(36)}`,
      keysPerKeyspace: 12, clientsPerRegion: 3, durationMs: 8000, seed: 5,
    });
    const running = workload.run();
    await sleep(2500);
    const killedAt = Date.now();
    e0.child!.kill('SIGKILL');
    const takeoverMs = await untilCoordinates(f, e1, killedAt, 2000);
    console.log(`[coordinator] east-1 coordinates ${takeoverMs} ms after east-0 was killed`);
    expect(takeoverMs).toBeLessThanOrEqual(2000);
    await untilReplicated(f, 10_000);
    const history = await running;
    await check(f, history);
  }, 120_000);

  it('the coordinator of the region dialled is killed: the dialer moves on past the refusing instance to the new coordinator', async () => {
    fx = await startInstances({ perRegion: { east: 1, west: 2 } });
    const f = fx;
    const e0 = f.byName('east').instances[0]!;
    const [w0, w1] = f.byName('west').instances as [Instance, Instance];
    await untilCoordinates(f, w0, Date.now(), 5000);
    await untilReplicated(f, 10_000);
    // west-1 is not the coordinator: it refuses a link, naming the coordinator
    const refused = await upgradeAnswer(`${w1.url}/v1/replication`);
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'not_coordinator', coordinator: w0.url } });
    expect(await metric(w1, 'geogate_replication_links_refused_total')).toBeGreaterThanOrEqual(1);
    const killedAt = Date.now();
    w0.child!.kill('SIGKILL');
    await untilCoordinates(f, w1, killedAt, 2000);
    // east's link reaches west-1: a write at east is read at west-1
    expect((await fetch(`${e0.url}/v1/kv/carts/after-kill`, { method: 'PUT', body: 'x' })).status).toBe(201);
    let reachedMs: number | null = null;
    while (reachedMs === null && Date.now() - killedAt < 10_000) {
      const r = await fetch(`${w1.url}/v1/kv/carts/after-kill`);
      if (r.status === 200) reachedMs = Date.now() - killedAt;
      else await sleep(20);
    }
    console.log(`[coordinator] east's writes reach west-1 ${reachedMs} ms after west-0 was killed`);
    expect(reachedMs).not.toBeNull();
    expect(reachedMs!).toBeLessThanOrEqual(5000);
    const status = await statusOf(e0);
    expect(status.peers.find((p: any) => p.region === 'west')).toMatchObject({ state: 'up' });
  }, 90_000);

  it('the coordinator frozen past its lease and resumed: the other took over, the frozen one steps down, nothing duplicated or lost', async () => {
    fx = await startInstances({ perRegion: { east: 2, west: 1 } });
    const f = fx;
    const [e0, e1] = f.byName('east').instances as [Instance, Instance];
    const w0 = f.byName('west').instances[0]!;
    await untilCoordinates(f, e0, Date.now(), 5000);
    await untilReplicated(f, 10_000);
    const workload = new Workload({
      targets: [{ region: 'east', url: e1.url, publicUrl: e1.url }, { region: 'west', url: w0.url, publicUrl: w0.url }],
      fenceKeyspace: 'orders', divergeKeyspace: 'carts', keyPrefix: `co-stop-${Date.now().toString(36)}`,
      keysPerKeyspace: 12, clientsPerRegion: 3, durationMs: 9000, seed: 7,
    });
    const running = workload.run();
    await sleep(2000);
    const frozenAt = Date.now();
    e0.child!.kill('SIGSTOP');
    const takeoverMs = await untilCoordinates(f, e1, frozenAt, 2000);
    await sleep(1000);
    e0.child!.kill('SIGCONT');
    // resumed: it steps down on its own clock (it held the lease when it was frozen)
    let s: any;
    for (let i = 0; i < 50; i++) {
      s = await statusOf(e0).catch(() => null);
      if (s?.coordination?.role === 'instance' && s.coordination.coordinator?.id === 'east-1') break;
      await sleep(20);
    }
    console.log(`[coordinator] east-1 coordinates ${takeoverMs} ms after east-0 was frozen; east-0 after resuming: ${JSON.stringify(s?.coordination)}`);
    expect(s.coordination).toMatchObject({ role: 'instance', coordinator: { id: 'east-1' } });
    expect(await metric(e0, 'geogate_coordinator_demotions_total')).toBeGreaterThanOrEqual(1);
    expect((await f.coordinator('east'))?.id).toBe('east-1');
    expect((await statusOf(e1)).coordination.token).toBeGreaterThan((await statusOf(e0)).coordination.coordinator.token - 1);
    await untilReplicated(f, 10_000);
    const history = await running;
    await check(f, history);
    // east-0 did not take the lease back
    expect((await f.coordinator('east'))?.id).toBe('east-1');
  }, 120_000);
});
