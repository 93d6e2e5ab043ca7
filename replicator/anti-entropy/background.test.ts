import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../infra/log.js';
import type { PeerStatus } from '../types.js';
import { BackgroundSweep } from './background.js';
import type { AePlacement, PartitionRepairStats } from './types.js';

function placement(name: string, partitions: number, regions: (p: number) => string[]): AePlacement {
  return { keyspace: { name, partitions }, merkleBuckets: 16, place: () => ({ partition: 0, bucket: 0 }), nodeList: (p) => regions(p).map((region) => ({ region })) };
}

function setup(up: string[], maps: Map<string, AePlacement>, busy = new Set<string>()) {
  const sessions: string[] = [];
  const sweep = new BackgroundSweep({
    links: { status: () => up.map((region) => ({ region, state: 'up' }) as PeerStatus) }, maps, log: silentLogger(),
    running: (peer) => (busy.has(peer) ? 1 : 0),
    shared: (map, p, peer) => map.nodeList(p).some((n) => n.region === peer),
    session: (peer, ks, p) => { sessions.push(`${peer}:${ks}.${p}`); return Promise.resolve({} as PartitionRepairStats); },
  });
  return { sweep, sessions };
}

describe('background sweep', () => {
  it('visits every partition of every keyspace with one peer, then the next peer (round robin)', () => {
    const all = () => ['east', 'west', 'south'];
    const { sweep, sessions } = setup(['west', 'south'], new Map([['a', placement('a', 2, all)], ['b', placement('b', 1, all)]]));
    for (let i = 0; i < 7; i++) sweep.step();
    expect(sessions).toEqual(['west:a.0', 'west:a.1', 'west:b.0', 'south:a.0', 'south:a.1', 'south:b.0', 'west:a.0']);
  });

  it('skips a step (never queues) while a session with that peer runs, and partitions not shared with it', () => {
    const { sweep, sessions } = setup(['west'], new Map([['a', placement('a', 3, (p) => (p === 1 ? ['east'] : ['east', 'west']))]]), new Set());
    for (let i = 0; i < 3; i++) sweep.step();
    expect(sessions).toEqual(['west:a.0', 'west:a.2']);
    const busy = setup(['west'], new Map([['a', placement('a', 3, () => ['east', 'west'])]]), new Set(['west']));
    for (let i = 0; i < 3; i++) busy.sweep.step();
    expect(busy.sessions).toEqual([]);
  });

  it('does nothing with no peer up', () => {
    const { sweep, sessions } = setup([], new Map([['a', placement('a', 2, () => ['east', 'west'])]]));
    sweep.step();
    expect(sessions).toEqual([]);
  });
});
