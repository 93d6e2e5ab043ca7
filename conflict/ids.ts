import { createHash } from 'node:crypto';
import type { VersionVector } from './types.js';
import { vvToString } from './vv.js';

/**
 * Deterministic ids of a conflict and of its compensating actions. They depend only on the
 * keyspace, the key and the two conflicting version vectors (taken in canonical order, so
 * resolve(a, b) and resolve(b, a) name the same conflict): any region, any retry, computes
 * the same id, so the journal and the action executor can deduplicate on it.
 */
export function conflictId(keyspace: string, key: string, a: VersionVector, b: VersionVector): string {
  return digest([keyspace, key, ...pair(a, b)]);
}

/** Id of the `index`-th action requested while resolving the conflict between `a` and `b`. */
export function actionId(keyspace: string, key: string, a: VersionVector, b: VersionVector, index: number): string {
  return digest([keyspace, key, ...pair(a, b), index]);
}

function pair(a: VersionVector, b: VersionVector): [string, string] {
  const x = vvToString(a);
  const y = vvToString(b);
  return x <= y ? [x, y] : [y, x];
}

/** 128 bits of SHA-256 over the JSON text of the parts, in hex. */
function digest(parts: readonly (string | number)[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
