/**
 * Which keys of the differing buckets each side must fetch from the other, from the
 * (key → version text) lists of both sides. Pure. A key present on one side only goes to
 * the other side; a key present on both goes to the side whose version is older; concurrent
 * versions go both ways (each side then holds the other's version pending for the
 * conflict worker, which resolves it at the partition's active region).
 */
import { compareVv, vvFromString } from '../../conflict/vv.js';

export interface KeyDiff {
  /** Keys the local side lacks or holds an older / concurrent version of. */
  readonly pull: string[];
  /** Keys the remote side lacks or holds an older / concurrent version of. */
  readonly push: string[];
  /** Keys whose versions are concurrent (in both lists). */
  readonly concurrent: number;
}

export function diffVersions(local: ReadonlyMap<string, string>, remote: ReadonlyMap<string, string>): KeyDiff {
  const pull: string[] = [];
  const push: string[] = [];
  let concurrent = 0;
  for (const [key, rv] of remote) {
    const lv = local.get(key);
    if (lv === undefined) { pull.push(key); continue; }
    if (lv === rv) continue;
    const order = compareVv(vvFromString(lv) ?? {}, vvFromString(rv) ?? {});
    if (order === 'before') pull.push(key);
    else if (order === 'after') push.push(key);
    else if (order === 'concurrent') { pull.push(key); push.push(key); concurrent++; }
  }
  for (const key of local.keys()) if (!remote.has(key)) push.push(key);
  return { pull, push, concurrent };
}
