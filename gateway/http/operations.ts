/**
 * Server-side operations where the keyspace's resolver gives them meaning (issue 13 item 3):
 * `incr` on `counter` keyspaces (done in the write script itself), `add` / `remove` on `set`
 * keyspaces and JSON merge-patch (RFC 7386) on `json-merge` ones (computed here from the
 * current value, then written with If-Match on the version read, retried a bounded number of
 * times when another write came in between). Pure functions of the bytes; no I/O.
 */
import { type Json, canonicalJson, decodeJson, encodeJson, parseSet } from '../../conflict/index.js';
import { IncrBody, MembersBody, parseWith } from './api-schema.js';
import type { KeyspaceConfig } from '../config.js';
import { BadRequestError, OperationNotSupportedError } from '../errors.js';

export type Operation = 'incr' | 'add' | 'remove' | 'merge-patch';

/** Which resolver each operation needs. */
export const OPERATION_RESOLVER: Readonly<Record<Operation, string>> = {
  incr: 'counter', add: 'set', remove: 'set', 'merge-patch': 'json-merge',
};

/** At most this many members in one add / remove. */
export { MEMBERS_MAX } from './api-schema.js';

export function checkOperation(ks: KeyspaceConfig, op: Operation): void {
  const needs = OPERATION_RESOLVER[op];
  if (ks.resolver !== needs) {
    throw new OperationNotSupportedError(`${op} needs a keyspace with resolver ${needs}; keyspace ${ks.name} has resolver ${ks.resolver}`);
  }
}

function jsonBody(body: Uint8Array): Json {
  const doc = decodeJson(body);
  if (doc === undefined) throw new BadRequestError('the body is not JSON', 'bad_body');
  return doc;
}

/** `{"by": n}`, n a safe integer (negative subtracts): the delta as the script takes it. */
export function parseIncr(body: Uint8Array): string {
  return String(parseWith(IncrBody, jsonBody(body)).by);
}

/** `{"members": [...]}`: 1..MEMBERS_MAX JSON values. */
export function parseMembers(body: Uint8Array): Json[] {
  return parseWith(MembersBody, jsonBody(body)).members as Json[];
}

/** The set's current elements (absent = empty); a value that is not a JSON array is refused. */
function currentSet(current: Uint8Array | undefined, ks: string): Map<string, Json> {
  if (current === undefined) return new Map();
  const set = parseSet(current);
  if (!set) throw new OperationNotSupportedError(`the current value in ${ks} is not a JSON array (a set)`, 'not_a_set');
  return set;
}

/** The set written canonically as the set resolver writes it: elements sorted by canonical text. */
function encodeSet(set: Map<string, Json>): Uint8Array {
  return encodeJson([...set.keys()].sort().map((k) => set.get(k) as Json));
}

export function addMembers(current: Uint8Array | undefined, members: Json[], ks: string): Uint8Array {
  const set = currentSet(current, ks);
  for (const m of members) set.set(canonicalJson(m), m);
  return encodeSet(set);
}

export function removeMembers(current: Uint8Array | undefined, members: Json[], ks: string): Uint8Array {
  const set = currentSet(current, ks);
  for (const m of members) set.delete(canonicalJson(m));
  return encodeSet(set);
}

/** RFC 7386: a patch object merges member by member (null removes), anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: { [key: string]: Json } = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined, v);
  }
  return out;
}

export function applyMergePatch(current: Uint8Array | undefined, patch: Json, ks: string): Uint8Array {
  const target = current === undefined ? undefined : decodeJson(current);
  if (current !== undefined && target === undefined) throw new OperationNotSupportedError(`the current value in ${ks} is not JSON`, 'not_json');
  return encodeJson(mergePatch(target, patch));
}

export { jsonBody as parseJsonBody };
