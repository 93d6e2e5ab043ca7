/**
 * Session tokens with several instances per region (real processes): a client behind a load
 * balancer writes through one instance and reads through another. The token names the
 * region's own log head and, per peer, how far the region applied that peer's log; an
 * instance that is not the coordinator neither wrote the other instance's writes nor
 * applied the peers' logs itself, yet both are in the region's Redis: its reads with such a
 * token answer 200 (read-your-writes across instances and across regions), not 503.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startInstances, type Instance, type InstancesFixture, until } from '../helpers/instances.js';

let fx: InstancesFixture | undefined;
afterEach(async () => { await fx?.stop(); fx = undefined; });
const SESSION = 'x-geogate-session';

const put = async (inst: Instance, key: string, value: string, token?: string) => {
  const r = await fetch(`${inst.url}/v1/kv/carts/${key}`, { method: 'PUT', body: value, headers: { 'content-type': 'text/plain', ...(token ? { [SESSION]: token } : {}) }, signal: AbortSignal.timeout(5000) });
  expect(r.status, await r.clone().text()).toBe(201);
  return r.headers.get(SESSION)!;
};
const get = async (inst: Instance, key: string, token: string) => {
  const r = await fetch(`${inst.url}/v1/kv/carts/${key}`, { headers: { [SESSION]: token }, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
};

describe('session tokens across the instances of a region (real processes)', () => {
  it('a token from one instance (own writes, and a peer\'s applied) reads at the other: 200 with what it saw', async () => {
    fx = await startInstances({ perRegion: { east: 2, west: 1 }, extra: { session: { waitMs: 3000 } } });
    const f = fx;
    const coord = await f.coordinator('east');
    expect(coord).not.toBeNull();
    const other = f.byName('east').instances.find((i) => i.id !== coord!.id)!;
    const w0 = f.byName('west').instances[0]!;
    const run = Date.now().toString(36);
    // 1. own writes: written through the coordinator, read through the other instance
    let token = '';
    for (let i = 0; i < 5; i++) token = await put(coord!, `own-${run}-${i}`, `c${i}`);
    const own = await get(other, `own-${run}-4`, token);
    expect(own, 'own write read at the other instance').toEqual({ status: 200, body: 'c4' });
    // and the other way round
    for (let i = 0; i < 5; i++) token = await put(other, `own2-${run}-${i}`, `o${i}`);
    expect(await get(coord!, `own2-${run}-4`, token)).toEqual({ status: 200, body: 'o4' });
    // 2. a peer's writes: written at west, the token from west; read at east's instance that
    // is not the coordinator once east applied them (the coordinator applies)
    // (the instance's frontier was read from Redis by the reads above: what follows is newer)
    let wToken = '';
    for (let i = 0; i < 5; i++) wToken = await put(w0, `peer-${run}-${i}`, `w${i}`);
    const peer = await get(other, `peer-${run}-4`, wToken);
    expect(peer, 'a peer\'s write read at the instance that is not the coordinator').toEqual({ status: 200, body: 'w4' });
    // 3. the token east's coordinator hands out after applying west, read at the other instance
    const cToken = (await fetch(`${coord!.url}/v1/kv/carts/peer-${run}-4`)).headers.get(SESSION)!;
    expect(await get(other, `peer-${run}-4`, cToken)).toEqual({ status: 200, body: 'w4' });
  }, 90_000);
});
