/**
 * The session token (`x-geogate-session`): what a client has seen, per origin region, as a
 * position in that region's replication log — the log's incarnation and a seq. A region
 * answers every read and write with its own position (its log head) and, per peer, how far
 * it applied that peer's log; a read that carries a token waits, bounded, until the region
 * applied that much of every origin the token names (gateway/http/session.ts).
 *
 * Text form: `region:incarnation:seq` entries joined by `,`, regions strictly ascending, one
 * entry per region, at most SESSION_REGIONS_MAX entries and SESSION_TOKEN_BYTES_MAX bytes:
 *   east:9f3a1c2b4d5e6f70:42,west:0c1d2e3f40516273:7
 * Its size grows with the number of regions, never with the number of keys. Pure, no
 * dependency: the client and the gateway share it.
 */

export const SESSION_HEADER = 'x-geogate-session';
/** The cluster's bound on regions (the config's `cluster.regions`). */
export const SESSION_REGIONS_MAX = 16;
/** 16 entries of a 32-character region, a 32-digit incarnation and a 16-digit seq fit. */
export const SESSION_TOKEN_BYTES_MAX = 2048;

export interface SessionEntry {
  readonly region: string;
  /** The incarnation of the region's log (hex). */
  readonly incarnation: string;
  readonly seq: number;
}

const ENTRY = /^([a-z][a-z0-9-]{0,31}):([0-9a-f]{1,32}):(0|[1-9][0-9]{0,15})$/;

/** The entries of a token, or the problem (a sentence naming the part). */
export function parseSessionToken(text: string): SessionEntry[] | string {
  if (text.length === 0) return 'empty';
  if (text.length > SESSION_TOKEN_BYTES_MAX) return `${text.length} bytes, more than ${SESSION_TOKEN_BYTES_MAX}`;
  const parts = text.split(',');
  if (parts.length > SESSION_REGIONS_MAX) return `${parts.length} entries, more than ${SESSION_REGIONS_MAX}`;
  const out: SessionEntry[] = [];
  for (const [i, part] of parts.entries()) {
    const m = ENTRY.exec(part);
    if (!m) return `entry ${i + 1} is not region:incarnation:seq (lowercase hex incarnation, decimal seq)`;
    const seq = Number(m[3]);
    if (!Number.isSafeInteger(seq)) return `entry ${i + 1}: seq is not a safe integer`;
    if (out.length > 0 && out[out.length - 1]!.region >= m[1]!) return `entry ${i + 1}: regions must be strictly ascending (${m[1]} after ${out[out.length - 1]!.region})`;
    out.push({ region: m[1]!, incarnation: m[2]!, seq });
  }
  return out;
}

export function formatSessionToken(entries: readonly SessionEntry[]): string {
  return [...entries].sort((a, b) => (a.region < b.region ? -1 : a.region > b.region ? 1 : 0))
    .map((e) => `${e.region}:${e.incarnation}:${e.seq}`).join(',');
}

/**
 * Merges what a client saw before (`seen`) with a new answer's token: per region the higher
 * seq of the same incarnation. Where the incarnations differ, only the region itself knows
 * its log's current one (its log started over after a data loss): the answer's entry is
 * taken when `from` (the answering region, `x-geogate-region`) is that region; an entry of
 * region R in another region's answer names the incarnation of R that region applied last,
 * possibly an older one, and must not erase the session's position in R's new log. At most
 * SESSION_REGIONS_MAX regions: the newer answer's regions first.
 */
export function mergeSessionTokens(seen: readonly SessionEntry[], next: readonly SessionEntry[], from?: string): SessionEntry[] {
  const byRegion = new Map<string, SessionEntry>();
  for (const e of next) byRegion.set(e.region, e);
  for (const e of seen) {
    const n = byRegion.get(e.region);
    if (!n) { if (byRegion.size < SESSION_REGIONS_MAX) byRegion.set(e.region, e); continue; }
    if (n.incarnation === e.incarnation ? e.seq > n.seq : n.region !== from) byRegion.set(e.region, e);
  }
  return [...byRegion.values()].sort((a, b) => (a.region < b.region ? -1 : a.region > b.region ? 1 : 0));
}
