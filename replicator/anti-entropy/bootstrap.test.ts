import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../infra/log.js';
import type { PeerStatus } from '../types.js';
import { BootstrapState } from './bootstrap.js';
import type { RepairAllStats } from './types.js';

const flush = async () => { for (let i = 0; i < 8; i++) await Promise.resolve(); };
const stats = (peer: string, failed: number) => ({ peer, partitions: 4, converged: 4 - failed, failed, errors: [] } as unknown as RepairAllStats);

/** Two peers whose state the test sets; every pull waits until the test settles it. */
function setup(opts: { started?: boolean } = {}) {
  const states = new Map<string, PeerStatus['state']>([['west', 'up'], ['south', 'down']]);
  const links = { status: () => [...states].map(([region, state]) => ({ region, state }) as PeerStatus) };
  const pulls: { peer: string; settle: (s: RepairAllStats) => void; fail: (e: Error) => void }[] = [];
  const retries: { peer: string; fn: () => void }[] = [];
  let started = opts.started ?? true;
  const boot = new BootstrapState({
    links, log: silentLogger(), started: () => started,
    pull: (peer) => new Promise((settle, fail) => pulls.push({ peer, settle, fail })),
    retryWhileUp: (peer, fn) => retries.push({ peer, fn }),
  });
  return { boot, states, pulls, retries, start: () => { started = true; } };
}

describe('bootstrap state', () => {
  it('is none until begun, then pending; done once the up peer was pulled, the down one no longer holding it', async () => {
    const { boot, pulls } = setup();
    expect(boot.status().state).toBe('none');
    boot.begin();
    expect(boot.status().state).toBe('pending');
    expect(pulls.map((p) => p.peer)).toEqual(['west']); // south is down: it waits for its `up`
    pulls[0]!.settle(stats('west', 0));
    await flush();
    expect(boot.status()).toEqual({ state: 'done', from: ['west'], complete: false });
  });

  it('a peer that comes up while its pull is pending holds the bootstrap until its pull is done', async () => {
    const { boot, states, pulls } = setup();
    boot.begin();
    states.set('south', 'up');
    expect(boot.peerUp('south')).toBe(true);
    pulls[0]!.settle(stats('west', 0));
    await flush();
    expect(boot.status().state).toBe('pending'); // south's pull is still running
    pulls[1]!.settle(stats('south', 0));
    await flush();
    expect(boot.status()).toEqual({ state: 'done', from: ['south', 'west'], complete: true });
    expect(boot.peerUp('south')).toBe(false); // nothing pending for it any more
  });

  it('an incomplete pull waits as pending and is retried; done only after a complete one', async () => {
    const { boot, pulls, retries } = setup();
    boot.begin();
    pulls[0]!.settle(stats('west', 1));
    await flush();
    expect(boot.status().state).toBe('pending');
    expect(retries.map((r) => r.peer)).toEqual(['west']);
    retries[0]!.fn();
    expect(pulls).toHaveLength(2);
    pulls[1]!.fail(new Error('busy'));
    await flush();
    expect(boot.status().state).toBe('pending');
    retries[1]!.fn();
    pulls[2]!.settle(stats('west', 0));
    await flush();
    expect(boot.status().state).toBe('done');
  });

  it('begun before start: every peer waits for its up, nothing pulls yet', () => {
    const { boot, pulls, start } = setup({ started: false });
    boot.begin();
    expect(pulls).toHaveLength(0);
    start();
    expect(boot.peerUp('west')).toBe(true);
    expect(boot.peerUp('south')).toBe(true);
    expect(pulls.map((p) => p.peer)).toEqual(['west', 'south']);
  });

  it('is latched done; a rebuild pulls again under a new generation without reopening it', async () => {
    const { boot, pulls } = setup();
    boot.begin();
    pulls[0]!.settle(stats('west', 0));
    await flush();
    const generation = boot.generation();
    boot.rebuildFromPeers();
    expect(boot.generation()).toBe(generation + 1);
    expect(pulls).toHaveLength(2);
    expect(boot.status()).toMatchObject({ state: 'done', from: [] });
  });
});
