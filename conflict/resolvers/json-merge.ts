import { type Json, type JsonObject, decodeJson, encodeJson, isJsonObject, jsonEqual, ownValue } from '../json.js';
import { compareLww } from '../order.js';
import { type Decision, type PairInput, lww, lwwSide, merged, sidesNamed } from './decision.js';

/**
 * The `json-merge` resolver: both values must be JSON objects (else lww, noted). Members are
 * merged recursively; at each member:
 *  - equal on both sides → kept;
 *  - with a base: changed on one side only (the other still equals the base) → that side's
 *    change, including removing the member;
 *  - objects on both sides → merged recursively (the base's member as base, {} if absent);
 *  - without a base, present on one side only → kept (union);
 *  - otherwise (a leaf conflict) → the lww winner's member (which may be absent).
 * Output keys are sorted at every level (canonical JSON): same bytes in every region.
 */
export function jsonMergeResolver(pair: PairInput): Decision {
  const a = decodeJson(pair.current.value);
  const b = decodeJson(pair.incoming.value);
  const aOk = isJsonObject(a);
  const bOk = isJsonObject(b);
  if (!aOk || !bOk) return lww(pair, `json-merge: ${sidesNamed(!aOk, !bOk)} not a JSON object; resolved by lww`);
  const { base, note } = baseObject(pair);
  const currentWins = compareLww(pair.current, pair.incoming) > 0;
  const out = mergeObjects(a, b, base, currentWins);
  return merged(encodeJson(out), lwwSide(pair).contentType, 'json-merge', note);
}

function mergeObjects(a: JsonObject, b: JsonObject, base: JsonObject | undefined, aWins: boolean): JsonObject {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const entries: [string, Json][] = [];
  for (const key of keys) {
    const baseMember = base === undefined ? undefined : ownValue(base, key);
    const member = mergeMember(ownValue(a, key), ownValue(b, key), base && { value: baseMember }, aWins);
    if (member !== undefined) entries.push([key, member]);
  }
  return Object.fromEntries(entries);
}

/** `base` undefined: no base at all; `{ value: undefined }`: the base lacks this member. */
function mergeMember(a: Json | undefined, b: Json | undefined, base: { value: Json | undefined } | undefined, aWins: boolean): Json | undefined {
  if (jsonEqual(a, b)) return a;
  if (base && jsonEqual(a, base.value)) return b;
  if (base && jsonEqual(b, base.value)) return a;
  if (isJsonObject(a) && isJsonObject(b)) {
    const sub = base === undefined ? undefined : isJsonObject(base.value) ? base.value : {};
    return mergeObjects(a, b, sub, aWins);
  }
  // `null` is a member's value, not its absence: `??` would drop it on one argument order.
  if (!base && (a === undefined || b === undefined)) return a === undefined ? b : a;
  return aWins ? a : b;
}

function baseObject(pair: PairInput): { base?: JsonObject; note?: string } {
  if (pair.base === undefined) return {};
  if (pair.base.tombstone) return { base: {} };
  const base = decodeJson(pair.base.value);
  return isJsonObject(base) ? { base } : { note: 'json-merge: the base is not a JSON object; merged without it' };
}
