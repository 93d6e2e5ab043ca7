import type { VersionVector, VvOrder } from './types.js';

/** Compares two version vectors: `before` means a happened-before b. */
export function compareVv(a: VersionVector, b: VersionVector): VvOrder {
  let aBigger = false;
  let bBigger = false;
  for (const region of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[region] ?? 0;
    const y = b[region] ?? 0;
    if (x > y) aBigger = true;
    else if (y > x) bBigger = true;
    if (aBigger && bBigger) return 'concurrent';
  }
  if (aBigger) return 'after';
  if (bBigger) return 'before';
  return 'equal';
}

/** Pointwise maximum: the smallest vector that dominates or equals both. */
export function mergeVv(a: VersionVector, b: VersionVector): VersionVector {
  const out: Record<string, number> = { ...a };
  for (const [region, n] of Object.entries(b)) out[region] = Math.max(out[region] ?? 0, n);
  return out;
}

/** Returns `vv` with `region`'s counter incremented. */
export function bumpVv(vv: VersionVector, region: string): VersionVector {
  return { ...vv, [region]: (vv[region] ?? 0) + 1 };
}

/**
 * Canonical text of a version vector: regions sorted, `region:n` joined by `,`, zero entries
 * dropped. The same version prints the same everywhere, so it is the ETag in every region.
 * Must match `vvCanonical` in the store's Lua.
 */
export function vvToString(vv: VersionVector): string {
  return Object.keys(vv)
    .filter((r) => (vv[r] ?? 0) > 0)
    .sort()
    .map((r) => `${r}:${vv[r]}`)
    .join(',');
}

/** Parses `vvToString` output; returns null on malformed text. */
export function vvFromString(text: string): VersionVector | null {
  if (text === '') return {};
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const i = part.lastIndexOf(':');
    if (i <= 0) return null;
    const n = Number(part.slice(i + 1));
    if (!Number.isSafeInteger(n) || n < 0) return null;
    out[part.slice(0, i)] = n;
  }
  return out;
}
