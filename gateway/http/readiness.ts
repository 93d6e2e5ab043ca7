/**
 * Readiness of a region (`GET /readyz`), judged from the same body `/v1/status` answers:
 * ready means this region can take the writes it should take now. Four checks, each named
 * in the 503 body with why it fails:
 *  - `store`: the region's Redis answers;
 *  - `bootstrap`: a store that started empty (or came back older) has been rebuilt from the
 *    peers — until then writes answer `503 bootstrapping`;
 *  - `links`: every peer link is up, or the region is *knowingly alone*: with a witness, the
 *    witness answers it (the quorum knows which peers it hears and arbitrates ownership);
 *    without one, every peer that is not up now was reached at least once since start (a
 *    peer that failed, not a link that never worked);
 *  - `leases`: with a witness, the owner of every partition has been learnt since start (no
 *    `unknown` partition) and every partition this region owns holds its lease (not
 *    `lease-pending`, as right after a restart). Static ownership has no leases.
 * Which checks are *required* depends on what the region serves. `store` and `bootstrap`
 * always are. `links` and `leases` are required for `onSplit: fence` keyspaces (their writes
 * need the quorum and a lease); a `diverge` keyspace takes writes cut off from everyone (that
 * is what it is for: they merge after the heal), so for it they only *degrade* readiness:
 * reported, not failing. Plain `/readyz` is ready when the region can take some of its writes:
 * `links`/`leases` are required only when every keyspace is `fence`. `/readyz?keyspace=K`
 * judges K alone (a load balancer per keyspace), its `leases` check on K's partitions only.
 * `/healthz` is liveness only (the process answers); it does not look at any of this.
 */

/** Partitions named in a failing check's detail, at most. */
export const READINESS_EXAMPLES_MAX = 5;

export type ReadinessCheckName = 'store' | 'bootstrap' | 'links' | 'leases';

export interface ReadinessCheck {
  readonly name: ReadinessCheckName;
  readonly ok: boolean;
  /** A check that is not required only degrades readiness (see the header). */
  readonly required: boolean;
  readonly detail: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly region: string;
  /** The keyspace judged alone (`/readyz?keyspace=`), absent for the whole region. */
  readonly keyspace?: string;
  /** Names of the failing required checks (empty when ready). */
  readonly failing: ReadinessCheckName[];
  /** Names of the failing checks that are not required here (diverge keyspaces serve without them). */
  readonly degraded: ReadinessCheckName[];
  readonly checks: ReadinessCheck[];
}

/** What readiness reads of a `/v1/status` body. */
export interface ReadinessInput {
  readonly region: string;
  readonly witness: boolean;
  readonly store: { readonly ok: boolean; readonly error?: string };
  readonly bootstrap?: { readonly state?: string; readonly writesOpen?: boolean };
  readonly peers: readonly { readonly region: string; readonly state: string; readonly heartbeatAgeMs: number | null }[];
  readonly ownership?: { readonly witnessReachable?: boolean };
  readonly keyspaces: readonly { readonly name: string; readonly onSplit?: string; readonly partitions: readonly { readonly partition: number; readonly active: string | null; readonly state: string }[] }[];
}

/** Thrown for `/readyz?keyspace=` naming no keyspace of this region. */
export class UnknownKeyspaceError extends Error {
  override readonly name = 'UnknownKeyspaceError';
}

export function judgeReadiness(s: ReadinessInput, keyspace?: string): Readiness {
  const judged = keyspace === undefined ? s.keyspaces : s.keyspaces.filter((k) => k.name === keyspace);
  if (keyspace !== undefined && judged.length === 0) throw new UnknownKeyspaceError(`no keyspace "${keyspace}" in this region`);
  // links and leases matter only where a keyspace cannot serve writes without them
  const quorumRequired = judged.length > 0 && judged.every((k) => k.onSplit !== 'diverge');
  const checks: ReadinessCheck[] = [
    { ...storeCheck(s), required: true },
    { ...bootstrapCheck(s), required: true },
    { ...linksCheck(s), required: quorumRequired },
    { ...leasesCheck({ ...s, keyspaces: judged }), required: quorumRequired },
  ];
  const failing = checks.filter((c) => !c.ok && c.required).map((c) => c.name);
  const degraded = checks.filter((c) => !c.ok && !c.required).map((c) => c.name);
  return { ready: failing.length === 0, region: s.region, ...(keyspace === undefined ? {} : { keyspace }), failing, degraded, checks };
}

function storeCheck(s: ReadinessInput): Omit<ReadinessCheck, 'required'> {
  return s.store.ok
    ? { name: 'store', ok: true, detail: 'Redis answers' }
    : { name: 'store', ok: false, detail: `Redis does not answer: ${s.store.error ?? 'unknown error'}` };
}

function bootstrapCheck(s: ReadinessInput): Omit<ReadinessCheck, 'required'> {
  if (s.bootstrap?.writesOpen !== false) return { name: 'bootstrap', ok: true, detail: `writes open (bootstrap ${s.bootstrap?.state ?? 'none'})` };
  return { name: 'bootstrap', ok: false, detail: `the store started empty or came back with older data and is being rebuilt from the peers (bootstrap ${s.bootstrap.state ?? 'pending'}); writes answer 503 bootstrapping until it is done` };
}

function linksCheck(s: ReadinessInput): Omit<ReadinessCheck, 'required'> {
  if (s.peers.length === 0) return { name: 'links', ok: true, detail: 'no peers configured' };
  const notUp = s.peers.filter((p) => p.state !== 'up');
  if (notUp.length === 0) return { name: 'links', ok: true, detail: `all ${s.peers.length} peer links up` };
  const names = notUp.map((p) => `${p.region} (${p.state})`).join(', ');
  if (s.witness) {
    return s.ownership?.witnessReachable === true
      ? { name: 'links', ok: true, detail: `alone, knowingly: ${names} not up; the witness answers this region` }
      : { name: 'links', ok: false, detail: `${names} not up and the witness does not answer: this region is cut off from the quorum` };
  }
  const neverReached = notUp.filter((p) => p.heartbeatAgeMs === null);
  if (neverReached.length === 0) return { name: 'links', ok: true, detail: `alone, knowingly: ${names} not up, each reached since start (static ownership)` };
  return { name: 'links', ok: false, detail: `never reached since start: ${neverReached.map((p) => p.region).join(', ')}` };
}

function leasesCheck(s: ReadinessInput): Omit<ReadinessCheck, 'required'> {
  if (!s.witness) return { name: 'leases', ok: true, detail: 'static ownership (no witness): no leases' };
  const unknown: string[] = [];
  const pending: string[] = [];
  for (const ks of s.keyspaces) {
    for (const p of ks.partitions) {
      if (p.state === 'unknown') unknown.push(`${ks.name}/${p.partition}`);
      else if (p.active === s.region && (p.state === 'fenced' || p.state === 'unavailable')) pending.push(`${ks.name}/${p.partition}`);
    }
  }
  if (unknown.length === 0 && pending.length === 0) return { name: 'leases', ok: true, detail: 'every owner learnt; every partition this region owns holds its lease' };
  const parts: string[] = [];
  if (unknown.length > 0) parts.push(`owner not learnt yet for ${unknown.length} partitions (${examples(unknown)})`);
  if (pending.length > 0) parts.push(`${pending.length} partitions owned here without a lease yet, lease-pending (${examples(pending)})`);
  return { name: 'leases', ok: false, detail: parts.join('; ') };
}

function examples(keys: string[]): string {
  const shown = keys.slice(0, READINESS_EXAMPLES_MAX).join(', ');
  return keys.length > READINESS_EXAMPLES_MAX ? `${shown}, …` : shown;
}
