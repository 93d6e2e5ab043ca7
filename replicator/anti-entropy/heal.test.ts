import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import type { PeerStateListener } from '../replicator.js';
import type { PeerStatus } from '../types.js';
import { AntiEntropy, HEAL_DRAIN_LAG_ENTRIES_MAX, HEAL_DRAIN_WAIT_MS_MAX, NEEDS_REPAIR_RETRY_MS } from './anti-entropy.js';
import type { AeLinks, AeStore, RepairAllStats } from './types.js';
import type { NeedsRepairListener } from '../replicator.js';

/** Links to one peer whose state and lags the test sets; no keyspaces, so a repair pass is a no-op to observe. */
function setup() {
  const clock = new FakeClock();
  let listener: PeerStateListener = () => {};
  let repairListener: NeedsRepairListener = () => {};
  const peer: { state: PeerStatus['state']; lagEntries: number; remoteLag: number; needsRepair: boolean } = { state: 'up', lagEntries: 0, remoteLag: 0, needsRepair: false };
  const status = (): PeerStatus[] => [{
    region: 'west', state: peer.state, linkState: 'established', dialer: true, lagMs: 0, lagEntries: peer.lagEntries,
    ackedSeq: 0, inflightBatches: 0, heartbeatAgeMs: 0, needsRepair: peer.needsRepair, lastCloseReason: null,
    remote: { lagMs: 0, lagEntries: peer.remoteLag, queue: 0, loadPermille: 0, fenced: [] },
  }];
  const links: AeLinks = {
    registerTopic: () => () => {}, sendControl: () => true, status, onNeedsRepair: (l) => { repairListener = l; return () => {}; },
    onPeerState: (l) => { listener = l; return () => {}; }, clearNeedsRepair: () => { peer.needsRepair = false; },
  };
  const ae = new AntiEntropy({ region: 'east', store: {} as AeStore, links, maps: new Map(), clock, log: silentLogger(), options: { healDelayMs: 1000 } });
  const repairAll = vi.spyOn(ae, 'repairAll');
  ae.start();
  const heal = () => {
    peer.state = 'down';
    listener({ peer: 'west', from: 'up', to: 'down', reason: 'test', silenceMs: 0 });
    peer.state = 'up';
    listener({ peer: 'west', from: 'down', to: 'up', reason: 'test', silenceMs: 0 });
  };
  const markNeedsRepair = () => {
    peer.needsRepair = true;
    repairListener('west', { afterSeq: 0, firstSeq: 10 });
  };
  return { clock, peer, ae, repairAll, heal, markNeedsRepair };
}

describe('anti-entropy after heal', () => {
  it('waits until the logs drained in both directions, then repairs once', () => {
    const { clock, peer, repairAll, heal } = setup();
    repairAll.mockClear(); // the start-up "already up" is not a heal
    peer.lagEntries = 5000;
    peer.remoteLag = 10;
    heal();
    clock.advance(5_000);
    expect(repairAll).not.toHaveBeenCalled();
    peer.lagEntries = 0;
    peer.remoteLag = HEAL_DRAIN_LAG_ENTRIES_MAX + 1;
    clock.advance(2_000);
    expect(repairAll).not.toHaveBeenCalled(); // the peer still has a backlog for us
    peer.remoteLag = 0;
    clock.advance(1_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
    clock.advance(10_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
  });

  it('under steady traffic (lag never zero) repairs once only what is in flight remains', () => {
    const { clock, peer, repairAll, heal } = setup();
    repairAll.mockClear();
    peer.lagEntries = 40;
    peer.remoteLag = 30;
    heal();
    clock.advance(2_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
  });

  it('repairs anyway when the logs never drain within the bound', () => {
    const { clock, peer, repairAll, heal } = setup();
    repairAll.mockClear();
    peer.lagEntries = HEAL_DRAIN_LAG_ENTRIES_MAX + 1;
    heal();
    clock.advance(HEAL_DRAIN_WAIT_MS_MAX - 2_000);
    expect(repairAll).not.toHaveBeenCalled();
    clock.advance(4_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
  });

  it('drops the pending repair when the peer goes away again', () => {
    const { clock, peer, repairAll, heal } = setup();
    repairAll.mockClear();
    peer.lagEntries = HEAL_DRAIN_LAG_ENTRIES_MAX + 1;
    heal();
    peer.state = 'down';
    clock.advance(HEAL_DRAIN_WAIT_MS_MAX * 2);
    expect(repairAll).not.toHaveBeenCalled();
  });

  it('a needs-repair pass that did not complete is retried until one clears the mark', async () => {
    const { clock, peer, repairAll, markNeedsRepair } = setup();
    repairAll.mockClear();
    const stats = (failed: number) => ({ peer: 'west', partitions: 1, converged: 1 - failed, failed, errors: [] } as unknown as RepairAllStats);
    repairAll.mockResolvedValueOnce(stats(1)).mockRejectedValueOnce(new Error('busy')).mockResolvedValueOnce(stats(0));
    markNeedsRepair();
    await Promise.resolve();
    expect(repairAll).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    clock.advance(NEEDS_REPAIR_RETRY_MS);
    expect(repairAll).toHaveBeenCalledTimes(2);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    clock.advance(NEEDS_REPAIR_RETRY_MS);
    expect(repairAll).toHaveBeenCalledTimes(3);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(peer.needsRepair).toBe(false);
    clock.advance(NEEDS_REPAIR_RETRY_MS * 5);
    expect(repairAll).toHaveBeenCalledTimes(3);
  });
});
