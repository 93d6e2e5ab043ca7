import type { RecordVersion } from '../types.js';
import { type Decision, type PairInput, lww, pick } from './decision.js';

/**
 * `source-wins`, StreamBase's default resolution ("the instance on the initiating node is
 * discarded, the instance on the source node is kept"). Our source is a region:
 *  - a normal merge after heal: the partition's active region (where resolution runs);
 *  - an operator restore (`POST /v1/admin/restore`): the named source region.
 * A version is "from the source" when its origin is the source region. When exactly one side
 * is, it wins (tombstone or not); otherwise (neither, or both) the pair is resolved by lww.
 */
export function sourceWins(pair: PairInput, source: string): Decision {
  const fromCurrent = pair.current.origin === source;
  const fromIncoming = pair.incoming.origin === source;
  if (fromCurrent !== fromIncoming) return pick(fromCurrent ? 'current' : 'incoming', 'source-wins');
  const which = fromCurrent ? 'both sides are' : 'neither side is';
  return lww(pair, `source-wins: ${which} from source region "${source}"; resolved by lww`);
}

/**
 * `stale-epoch` on a fence keyspace, for every built-in resolver: the side written at the
 * partition's current epoch wins; the stale owner's write is the journaled loser. Only a
 * trigger may decide otherwise (it sees the type and both sides).
 */
export function epochFence(pair: PairInput, fenceEpoch: number): Decision {
  const stale: RecordVersion = pair.current.epoch < fenceEpoch ? pair.current : pair.incoming;
  const note = `stale-epoch: "${stale.origin}" wrote at epoch ${stale.epoch}, the partition is at epoch ${fenceEpoch}`;
  return pick(stale === pair.current ? 'incoming' : 'current', 'epoch-fence', note);
}

/**
 * `delete-vs-update` under the value-merging resolvers (counter, set, json-merge): the update
 * wins (add-wins: the delete did not see it), with its value as it is. The delete is the
 * journaled loser.
 */
export function updateWins(pair: PairInput, configured: string): Decision {
  const winner = pair.current.tombstone ? 'incoming' : 'current';
  return pick(winner, 'update-wins', `${configured}: an update concurrent with a delete survives (add-wins)`);
}
