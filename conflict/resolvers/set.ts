import { type Json, canonicalJson, decodeJson, encodeJson } from '../json.js';
import { type Decision, type PairInput, lww, lwwSide, merged, sidesNamed } from './decision.js';

/**
 * The `set` resolver: an add-wins set of JSON array elements. A value is a JSON array;
 * elements are compared by canonical JSON text (so `{"a":1,"b":2}` equals `{"b":2,"a":1}`),
 * duplicates collapse. The merged array is sorted by canonical text: a set has no order and
 * every region must write the same bytes.
 *  - without a base (or with an unusable one, noted): the union;
 *  - with a base (the common ancestor; a tombstone counts as the empty set): 3-way, an
 *    element is kept when both sides have it or when either side added it (absent from the
 *    base). So a removal wins only over a side that merely kept the element, and a
 *    concurrent add wins over a remove.
 * A side that is not a JSON array falls back to lww (noted).
 */
export function setResolver(pair: PairInput): Decision {
  const a = parseSet(pair.current.value);
  const b = parseSet(pair.incoming.value);
  if (!a || !b) return lww(pair, `set: ${sidesNamed(!a, !b)} not a JSON array; resolved by lww`);
  const { base, note } = baseSet(pair);
  const keep = (key: string) => !base || (a.has(key) && b.has(key)) || !base.has(key);
  const all = new Map([...a, ...b]);
  const out: Json[] = [...all.keys()]
    .filter(keep)
    .sort()
    .map((key) => all.get(key) as Json);
  return merged(encodeJson(out), lwwSide(pair).contentType, 'set', note);
}

/** Elements of a set value by canonical text; undefined when the value is not a JSON array. */
export function parseSet(bytes: Uint8Array): Map<string, Json> | undefined {
  const doc = decodeJson(bytes);
  if (!Array.isArray(doc)) return undefined;
  return new Map(doc.map((element) => [canonicalJson(element), element]));
}

function baseSet(pair: PairInput): { base?: Map<string, Json>; note?: string } {
  if (pair.base === undefined) return {};
  if (pair.base.tombstone) return { base: new Map() };
  const base = parseSet(pair.base.value);
  return base ? { base } : { note: 'set: the base is not a JSON array; merged as a union' };
}
