/**
 * JSON helpers for the value-merging resolvers and the trigger contract: strict UTF-8,
 * bounded nesting, canonical text. Canonical text (object keys sorted at every level) is
 * what makes merged values byte-identical in every region, whatever the argument order.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Deepest nesting accepted in a value or a trigger's output; deeper counts as "not JSON". */
export const JSON_DEPTH_MAX = 64;

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Parses bytes as JSON; undefined when not UTF-8, not JSON, or nested too deep. */
export function decodeJson(bytes: Uint8Array): Json | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  return asJson(parsed);
}

/**
 * `value` as a JSON value when it is one (plain objects, arrays, finite numbers, strings,
 * booleans, null; at most JSON_DEPTH_MAX deep, so cycles are refused too), else undefined.
 */
export function asJson(value: unknown, depthLeft = JSON_DEPTH_MAX): Json | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'object' || depthLeft === 0) return undefined;
  if (Array.isArray(value)) {
    const out: Json[] = [];
    for (const item of value) {
      const j = asJson(item, depthLeft - 1);
      if (j === undefined) return undefined;
      out.push(j);
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const entries: [string, Json][] = [];
  for (const [k, v] of Object.entries(value)) {
    const j = asJson(v, depthLeft - 1);
    if (j === undefined) return undefined;
    entries.push([k, j]);
  }
  return Object.fromEntries(entries);
}

export function isJsonObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own property of a parsed object (never one inherited from Object.prototype). */
export function ownValue(obj: JsonObject, key: string): Json | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Canonical text: keys sorted at every level, no whitespace. Equal values ⇔ equal text. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    const parts = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Json)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function encodeJson(value: Json): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Deep equality of two JSON values (undefined = absent, equal only to absent). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
