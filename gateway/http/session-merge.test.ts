/**
 * The client's merge of session tokens across a renewed log: a write answered by a lagging
 * west names east's old incarnation (the one west applied last); it must not erase the
 * session's position in east's new log, or west would count the session's east write as
 * caught up although it never applied it. Only east's own answer renews east's entry.
 */
import { expect, it } from 'vitest';
import { mergeSessionTokens } from '../../client/session.js';
import { SessionGate } from './session.js';
import { AppliedFrontier } from '../store/region-store.js';

it('a lagging region\'s answer does not erase the session\'s position in a renewed log', async () => {
  // east lost its data and renewed its log: N2. The client wrote at east (seq 5 of N2).
  const afterEastWrite = [{ region: 'east', incarnation: 'b2', seq: 5 }, { region: 'west', incarnation: 'c3', seq: 100 }];
  // then a write at west (writes do not wait for the token): west applied east's OLD log N1 to 500
  const westAnswer = [{ region: 'east', incarnation: 'a1', seq: 500 }, { region: 'west', incarnation: 'c3', seq: 101 }];
  const merged = mergeSessionTokens(afterEastWrite, westAnswer, 'west');
  expect(merged.find((e) => e.region === 'east')).toEqual({ region: 'east', incarnation: 'b2', seq: 5 });
  // east's own answer does renew it
  expect(mergeSessionTokens(afterEastWrite, [{ region: 'east', incarnation: 'd4', seq: 1 }], 'east').find((e) => e.region === 'east')?.incarnation).toBe('d4');

  const frontier = new AppliedFrontier();
  frontier.applied('east', 'a1', 500); // west has not applied anything of east's b2 yet
  const store = {
    frontier, headSeq: () => 101, bounds: async () => ({ lastSeq: 101 }), noteSeqSeen: () => {},
    incarnation: async () => 'c3', appliedAll: async () => ({ 'east|a1': 500 }),
  };
  const gate = new SessionGate(store as never, 'west', ['east', 'west'], { waitMs: 50, waitersMax: 4 });
  // the read at west must not pass: east's write b2:5 is not applied there
  await expect(gate.waitFor(merged)).rejects.toThrow(/session/);
});
