import { describe, expect, it } from 'vitest';
import { renderStatus, type ClusterBody } from './status-view.js';

const status = (region: string, rttMs: number | null | undefined) => ({
  region, cluster: 'c1', store: { ok: true }, bootstrap: { state: 'done', writesOpen: true }, keyspaces: [],
  peers: [{ region: region === 'east' ? 'west' : 'east', state: 'up', linkState: 'established', lagMs: 0, lagEntries: 0, heartbeatAgeMs: 12.3, needsRepair: false, ...(rttMs === undefined ? {} : { rttMs }) }],
  ownership: { leased: 4, diverged: [], witness: 'http://w', witnessReachable: true }, conflicts: { pending: 0 },
});

describe('status RTT column', () => {
  it('prints the link round trip /v1/status reports, unknown while it is null or absent (an older gateway)', () => {
    const body: ClusterBody = {
      region: 'east',
      regions: [
        { region: 'east', url: 'http://e', ok: true, ms: 0.4, status: status('east', 104.6) },
        { region: 'west', url: 'http://w', ok: true, ms: 3, status: status('west', null) },
      ],
    };
    const text = renderStatus(body, { partitions: false }).join('\n');
    expect(text).toMatch(/^east → west\s+up\s+established\s+105 ms\s+12\.3 ms/m);
    expect(text).toMatch(/^west → east\s+up\s+established\s+unknown\s+12\.3 ms/m);
    const older = renderStatus({ region: 'east', regions: [{ region: 'east', url: 'http://e', ok: true, ms: 1, status: status('east', undefined) }] }, { partitions: false }).join('\n');
    expect(older).toMatch(/^east → west\s+up\s+established\s+unknown\s+12\.3 ms/m);
  });
});
