import type { CompensationAction } from '../actions.js';
import type { ConcurrentType } from '../classify.js';
import { compareLww } from '../order.js';
import type { RecordVersion } from '../types.js';

/** What every built-in resolver is given: the concurrent pair and what they need to decide. */
export interface PairInput {
  readonly current: RecordVersion;
  readonly incoming: RecordVersion;
  /** Common ancestor, when the caller has one (3-way `set` and `json-merge`). */
  readonly base?: RecordVersion;
  readonly type: ConcurrentType;
}

/** Why a trigger's answer was not used (the resolution then fell back to lww). */
export type TriggerFailureCode = 'missing' | 'threw' | 'async' | 'bad-result' | 'asymmetric';
export interface TriggerFailure {
  readonly code: TriggerFailureCode;
  readonly message: string;
}

/** A resolver's verdict, before it is stamped into a new version. */
export interface Decision {
  readonly winner: 'current' | 'incoming' | 'merged';
  /** The merged content, present exactly when `winner` is 'merged'. */
  readonly merged?: { readonly value: Uint8Array; readonly contentType: string; readonly tombstone: boolean };
  /** The rule that decided ('lww' after a fallback). */
  readonly resolver: string;
  /** Why the rule differs from the configured one, or anything else worth journaling. */
  readonly note?: string;
  readonly actions?: readonly CompensationAction[];
  readonly error?: TriggerFailure;
}

/** Last writer wins: higher HLC, ties by region id (see `compareLww`). */
export function lww(pair: PairInput, note?: string): Decision {
  return pick(compareLww(pair.current, pair.incoming) >= 0 ? 'current' : 'incoming', 'lww', note);
}

export function pick(winner: 'current' | 'incoming', resolver: string, note?: string): Decision {
  return note === undefined ? { winner, resolver } : { winner, resolver, note };
}

export function merged(value: Uint8Array, contentType: string, resolver: string, note?: string): Decision {
  const decision: Decision = { winner: 'merged', merged: { value, contentType, tombstone: false }, resolver };
  return note === undefined ? decision : { ...decision, note };
}

/** The lww winner of the pair (the content type of merged values comes from it). */
export function lwwSide(pair: PairInput): RecordVersion {
  return compareLww(pair.current, pair.incoming) >= 0 ? pair.current : pair.incoming;
}

/** Which side(s) failed a value check, for notes: "current", "incoming" or "both". */
export function sidesNamed(currentBad: boolean, incomingBad: boolean): string {
  return currentBad && incomingBad ? 'both values are' : currentBad ? 'the current value is' : 'the incoming value is';
}
