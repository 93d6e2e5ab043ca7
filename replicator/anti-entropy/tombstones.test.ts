import { describe, expect, it } from 'vitest';
import type { PeerStatus } from '../types.js';
import { quietReason } from './tombstones.js';

const peer = (over: Partial<PeerStatus> = {}): PeerStatus => ({
  region: 'west', state: 'up', linkState: 'established', dialer: true, lagMs: 0, lagEntries: 0,
  ackedSeq: 0, inflightBatches: 0, heartbeatAgeMs: 0, needsRepair: false, lastCloseReason: null,
  remote: { lagMs: 0, lagEntries: 0, queue: 0, loadPermille: 0, fenced: [] }, ...over,
} as PeerStatus);

describe('quiet (tombstone collection may run)', () => {
  it('is quiet only with nothing applying and every peer up, repaired and drained both ways', () => {
    expect(quietReason(0, [peer(), peer({ region: 'south' })])).toBeNull();
    expect(quietReason(1, [peer()])).toMatch(/applying/);
    expect(quietReason(0, [peer(), peer({ region: 'south', state: 'down' })])).toMatch(/south is down/);
    expect(quietReason(0, [peer({ needsRepair: true })])).toMatch(/needs repair/);
    expect(quietReason(0, [peer({ lagEntries: 1 })])).toMatch(/not acked 1/);
    expect(quietReason(0, [peer({ remote: null })])).toMatch(/in flight/);
    expect(quietReason(0, [peer({ remote: { lagMs: 0, lagEntries: 2, queue: 0, loadPermille: 0, fenced: [] } })])).toMatch(/in flight/);
  });
});
