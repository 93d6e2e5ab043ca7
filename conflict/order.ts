import { compareHlc } from './hlc.js';
import type { RecordVersion } from './types.js';
import { vvToString } from './vv.js';

/**
 * The last-writer-wins total order over record versions: higher HLC wins; equal HLCs are
 * broken by origin region id (the greater id wins). The remaining keys only break ties
 * between versions that should never meet (same stamp, same origin: a region whose store
 * was wiped) so that even then every region picks the same winner. Returns > 0 when `a`
 * wins, < 0 when `b` wins, 0 only for identical versions.
 */
export function compareLww(a: RecordVersion, b: RecordVersion): number {
  return (
    compareHlc(a.hlc, b.hlc) ||
    compareText(a.origin, b.origin) ||
    compareText(vvToString(a.vv), vvToString(b.vv)) ||
    a.epoch - b.epoch ||
    Number(a.tombstone) - Number(b.tombstone) ||
    compareText(a.contentType, b.contentType) ||
    Buffer.compare(a.value, b.value)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
