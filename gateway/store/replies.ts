/** Shapes of Redis replies shared by the stores. */

/** A flat `[field, value, field, value, …]` reply (HGETALL, a stream entry, a script's list) as a record. */
export function fieldPairs(flat: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
}
