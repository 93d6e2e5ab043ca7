/** The operator's bearer token, compared in constant time against every accepted token (rotation). */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer …` header (undefined when absent or another scheme). */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

export function tokenAccepted(given: string | undefined, tokens: readonly string[]): boolean {
  if (given === undefined) return false;
  // digests of equal length: the comparison takes the same time whatever the lengths
  const g = createHash('sha256').update(given).digest();
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(g, createHash('sha256').update(t).digest()) || ok;
  return ok;
}
