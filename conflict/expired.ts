import type { RecordVersion, VersionVector } from './types.js';
import { compareVv, vvFromString } from './vv.js';

/**
 * The content type of an expiry tombstone (the sweep's, docs/expiry.md). Its value, otherwise
 * empty in a tombstone, is the canonical version vector of the version it expired, so the mark
 * travels wherever a record does (log, anti-entropy, pending versions, journal) unchanged. No
 * client can write it: a DELETE's tombstone has an empty value and content type. A resolution
 * that keeps an expiry tombstone keeps its mark (conflict/resolve.ts, resolveConflict-17.lua),
 * so a refresh of the expired version that arrives after that resolution still wins.
 */
export const EXPIRED_CONTENT_TYPE = 'application/vnd.geogate.expired';

/** The version an expiry tombstone expired; undefined for any other version. */
export function expiredVersionOf(v: RecordVersion): VersionVector | undefined {
  if (!v.tombstone || v.contentType !== EXPIRED_CONTENT_TYPE || v.value.byteLength === 0) return undefined;
  return vvFromString(Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString('utf8')) ?? undefined;
}

/**
 * True when `tombstone` is an expiry tombstone and `live` is a live version written after
 * (dominating) the version that tombstone expired: a refresh (a PUT, an /expire) made by a
 * region that held the expiring version. The expiry it tombstones was superseded before it
 * happened, so the refresh wins whatever the stamps. Depends only on the two versions: every
 * region decides the same.
 */
export function refreshesExpired(live: RecordVersion, tombstone: RecordVersion): boolean {
  if (live.tombstone) return false;
  const expired = expiredVersionOf(tombstone);
  return expired !== undefined && compareVv(live.vv, expired) === 'after';
}
