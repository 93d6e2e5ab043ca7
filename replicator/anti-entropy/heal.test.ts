import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import type { PeerStateListener } from '../replicator.js';
import type { PeerStatus } from '../types.js';
import { AntiEntropy, HEAL_DRAIN_WAIT_MS_MAX } from './anti-entropy.js';
import type { AeLinks, AeStore } from './types.js';

/** Links to one peer whose state and lags the test sets; no keyspaces, so a repair pass is a no-op to observe. */
function setup() {
  const clock = new FakeClock();
  let listener: PeerStateListener = () => {};
  const peer: { state: PeerStatus['state']; lagEntries: number; remoteLag: number } = { state: 'up', lagEntries: 0, remoteLag: 0 };
  const status = (): PeerStatus[] => [{
    region: 'west', state: peer.state, linkState: 'established', dialer: true, lagMs: 0, lagEntries: peer.lagEntries,
    ackedSeq: 0, inflightBatches: 0, heartbeatAgeMs: 0, needsRepair: false, lastCloseReason: null,
    remote: { lagMs: 0, lagEntries: peer.remoteLag, queue: 0, loadPermille: 0, fenced: [] },
  }];
  const links: AeLinks = {
    registerTopic: () => () => {}, sendControl: () => true, status, onNeedsRepair: () => () => {},
    onPeerState: (l) => { listener = l; return () => {}; }, clearNeedsRepair: () => {},
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
  return { clock, peer, ae, repairAll, heal };
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
    clock.advance(2_000);
    expect(repairAll).not.toHaveBeenCalled(); // the peer still has entries for us
    peer.remoteLag = 0;
    clock.advance(1_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
    clock.advance(10_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
  });

  it('repairs anyway when the logs never drain within the bound', () => {
    const { clock, peer, repairAll, heal } = setup();
    repairAll.mockClear();
    peer.lagEntries = 1;
    heal();
    clock.advance(HEAL_DRAIN_WAIT_MS_MAX - 2_000);
    expect(repairAll).not.toHaveBeenCalled();
    clock.advance(4_000);
    expect(repairAll).toHaveBeenCalledTimes(1);
  });

  it('drops the pending repair when the peer goes away again', () => {
    const { clock, peer, repairAll, heal } = setup();
    repairAll.mockClear();
    peer.lagEntries = 1;
    heal();
    peer.state = 'down';
    clock.advance(HEAL_DRAIN_WAIT_MS_MAX * 2);
    expect(repairAll).not.toHaveBeenCalled();
  });
});
