import { type Json, type JsonObject, decodeJson, encodeJson, isJsonObject, ownValue } from '../json.js';
import { type Decision, type PairInput, lww, lwwSide, merged, sidesNamed } from './decision.js';

/**
 * The `counter` value format, a PN-counter: JSON `{"p":{"east":5},"n":{"west":2}}`.
 * `p[region]` is the total that region ever added, `n[region]` the total it ever subtracted;
 * the counter's value is sum(p) − sum(n) (here 3). A region only ever raises its own
 * entries, so concurrent versions merge by pointwise maximum without losing an increment.
 * Both members are optional (absent = {}); no other members; every count is a non-negative
 * safe integer. Merged values are written canonically (keys sorted, no whitespace).
 */
export interface PnCounter {
  readonly p: Readonly<Record<string, number>>;
  readonly n: Readonly<Record<string, number>>;
}

export const EMPTY_COUNTER: PnCounter = { p: {}, n: {} };

/** Parses a counter value; undefined when the bytes are not in the format above. */
export function parseCounter(bytes: Uint8Array): PnCounter | undefined {
  const doc = decodeJson(bytes);
  if (!isJsonObject(doc) || Object.keys(doc).some((k) => k !== 'p' && k !== 'n')) return undefined;
  const p = parseCounts(ownValue(doc, 'p') ?? {});
  const n = parseCounts(ownValue(doc, 'n') ?? {});
  return p && n ? { p, n } : undefined;
}

function parseCounts(part: Json): Record<string, number> | undefined {
  if (!isJsonObject(part)) return undefined;
  const ok = Object.values(part).every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
  return ok ? (part as Record<string, number>) : undefined;
}

export function encodeCounter(counter: PnCounter): Uint8Array {
  return encodeJson({ p: counter.p, n: counter.n } as JsonObject);
}

/** The counter's value: sum(p) − sum(n). */
export function counterTotal(counter: PnCounter): number {
  const sum = (part: Readonly<Record<string, number>>) => Object.values(part).reduce((s, x) => s + x, 0);
  return sum(counter.p) - sum(counter.n);
}

/** `counter` after `region` adds `delta` (negative: subtracts). What a local INCR writes. */
export function addToCounter(counter: PnCounter, region: string, delta: number): PnCounter {
  if (!Number.isSafeInteger(delta)) throw new Error(`counter delta must be a safe integer, got ${delta}`);
  const part = delta >= 0 ? 'p' : 'n';
  const next = { ...counter[part], [region]: (counter[part][region] ?? 0) + Math.abs(delta) };
  return part === 'p' ? { p: next, n: counter.n } : { p: counter.p, n: next };
}

/** Pointwise maximum of both parts: commutative, associative, idempotent. */
export function mergeCounters(a: PnCounter, b: PnCounter): PnCounter {
  return { p: maxPointwise(a.p, b.p), n: maxPointwise(a.n, b.n) };
}

function maxPointwise(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const regions = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return Object.fromEntries(regions.map((r) => [r, Math.max(a[r] ?? 0, b[r] ?? 0)]));
}

/** The `counter` resolver; a value that is not a PN-counter falls back to lww (noted). */
export function counterResolver(pair: PairInput): Decision {
  const a = parseCounter(pair.current.value);
  const b = parseCounter(pair.incoming.value);
  if (!a || !b) return lww(pair, `counter: ${sidesNamed(!a, !b)} not a PN-counter; resolved by lww`);
  return merged(encodeCounter(mergeCounters(a, b)), lwwSide(pair).contentType, 'counter');
}
