import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { StaticAuthority } from './authority.js';
import { BootstrapGate, type BootstrapState } from './bootstrap-gate.js';
import { parseGatewayConfig } from './config.js';
import { PartitionMap } from './partition-map.js';

const config = parseGatewayConfig({
  region: 'east', listen: { host: '127.0.0.1', port: 1 }, publicUrl: 'http://127.0.0.1:1', redis: { url: 'redis://x' },
  cluster: { id: 't', secret: 'a-secret-of-16-chars', regions: ['east', 'west'] },
  keyspaces: [{ name: 'carts', partitions: 4, writes: 'multi-master', onSplit: 'diverge' }, { name: 'orders', partitions: 4 }],
}, 't');
const [carts, orders] = config.keyspaces as [typeof config.keyspaces[0], typeof config.keyspaces[0]];
const maps = new Map(config.keyspaces.map((ks) => [ks.name, new PartitionMap(ks, config.cluster.regions, 16)]));

function setup(waitMs: number, initial: BootstrapState = 'pending') {
  const clock = new FakeClock();
  const registry = new Registry();
  let state: BootstrapState = initial;
  let complete = true;
  const floorRaises: number[] = [];
  const gate = new BootstrapGate(new StaticAuthority('east', maps), {
    clock, waitMs, log: silentLogger(), registry, state: () => state, complete: () => complete,
    onOpenedIncomplete: () => floorRaises.push(clock.monoMs()),
  });
  return { clock, registry, gate, floorRaises, set: (s: BootstrapState) => { state = s; }, setComplete: (c: boolean) => { complete = c; } };
}

const homeOf = (region: string) => [0, 1, 2, 3].find((p) => maps.get('orders')!.nodeList(p)[0]!.region === region)!;

describe('BootstrapGate', () => {
  it('refuses the writes this region would take while the bootstrap is pending, and lets redirects through', async () => {
    const { gate, registry } = setup(30_000);
    expect(gate.check(carts, 0)).toMatchObject({ kind: 'unavailable', code: 'bootstrapping' });
    expect(gate.check(orders, homeOf('east'))).toMatchObject({ kind: 'unavailable', code: 'bootstrapping' });
    expect(gate.check(orders, homeOf('west'))).toEqual({ kind: 'redirect', region: 'west' });
    expect(gate.partitionState(orders, homeOf('east'))).toBe('bootstrapping');
    expect(gate.partitionState(orders, homeOf('west'))).toBe('replicating');
    expect(await registry.getSingleMetricAsString('geogate_bootstrap_gated')).toContain('geogate_bootstrap_gated 1');
  });

  it('opens when the bootstrap is done and stays open', async () => {
    const { gate, set, registry, floorRaises } = setup(30_000);
    expect(gate.isOpen()).toBe(false);
    set('done');
    expect(gate.check(carts, 1)).toEqual({ kind: 'local', epoch: 0, fenced: false });
    set('pending'); // latched
    expect(gate.isOpen()).toBe(true);
    expect(gate.partitionState(orders, homeOf('east'))).toBe('active');
    expect(await registry.getSingleMetricAsString('geogate_bootstrap_gated')).toContain('geogate_bootstrap_gated 0');
    expect(floorRaises).toEqual([]); // pulled from every peer: counters need no floor
  });

  it('asks for the counter floor, once and before the first write passes, whenever writes open without a pull from every peer', () => {
    const done = setup(30_000);
    done.setComplete(false);
    done.set('done');
    expect(done.gate.check(carts, 0).kind).toBe('local');
    expect(done.gate.check(carts, 1).kind).toBe('local');
    expect(done.floorRaises).toHaveLength(1);

    const expired = setup(5_000);
    expired.clock.advance(5_000);
    expect(expired.floorRaises).toEqual([]);
    expect(expired.gate.check(carts, 0).kind).toBe('local');
    expect(expired.floorRaises).toEqual([5_000]);

    const ungated = setup(0, 'pending');
    expect(ungated.gate.isOpen()).toBe(true);
    expect(ungated.floorRaises).toHaveLength(1);
    expect(setup(0, 'none').floorRaises).toEqual([]);
  });

  it('opens after waitMs even when the bootstrap is not done', () => {
    const { gate, clock } = setup(5_000);
    clock.advance(4_999);
    expect(gate.isOpen()).toBe(false);
    clock.advance(1);
    expect(gate.check(carts, 2).kind).toBe('local');
  });

  it('never gates a store that did not start empty, nor with waitMs 0', () => {
    const none = setup(30_000, 'none');
    expect(none.gate.isOpen()).toBe(true);
    expect(none.floorRaises).toEqual([]);
    expect(setup(0, 'pending').gate.isOpen()).toBe(true);
  });
});
