/**
 * Version vectors as the API shows them (`"east:3,west:1"`), compared independently of the
 * gateway's own code so the checker does not trust what it checks.
 */
export type Order = 'equal' | 'before' | 'after' | 'concurrent';

export function parseVv(text: string): Map<string, number> {
  const out = new Map<string, number>();
  if (text.trim() === '') return out;
  for (const part of text.split(',')) {
    const i = part.lastIndexOf(':');
    const n = Number(part.slice(i + 1));
    if (i <= 0 || !Number.isSafeInteger(n) || n < 0) throw new Error(`malformed version vector "${text}"`);
    if (n > 0) out.set(part.slice(0, i).trim(), n);
  }
  return out;
}

/** How `a` relates to `b`: `before` means b has seen everything a has (b dominates a). */
export function compareVv(a: string, b: string): Order {
  const va = parseVv(a);
  const vb = parseVv(b);
  let aHasMore = false;
  let bHasMore = false;
  for (const r of new Set([...va.keys(), ...vb.keys()])) {
    const x = va.get(r) ?? 0;
    const y = vb.get(r) ?? 0;
    if (x > y) aHasMore = true;
    if (y > x) bHasMore = true;
  }
  if (aHasMore && bHasMore) return 'concurrent';
  if (aHasMore) return 'after';
  if (bHasMore) return 'before';
  return 'equal';
}

/** `b` has seen `a` (equal or strictly later). */
export function dominatesOrEqual(b: string, a: string): boolean {
  const o = compareVv(a, b);
  return o === 'before' || o === 'equal';
}

export function strictlyDominates(b: string, a: string): boolean {
  return compareVv(a, b) === 'before';
}
