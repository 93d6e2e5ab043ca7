/**
 * `geogate status` for a person: the body of GET /v1/cluster as a few compact tables
 * (regions, links, and per keyspace the partitions' owners on request), and the problems
 * that make the command exit 1. Pure: JSON in, lines out. `unknown` where a region has not
 * reported something (an older gateway, a region that has not learnt it yet).
 */
type Json = Record<string, unknown>;

export interface ClusterBody {
  region: string;
  regions: { region: string; url: string; ok: boolean; ms?: number; status?: Json; error?: string }[];
}

const UNKNOWN = 'unknown';

export function renderStatus(c: ClusterBody, o: { partitions: boolean }): string[] {
  const out: string[] = [];
  const first = c.regions.find((r) => r.ok)?.status;
  out.push(`cluster ${str(first?.cluster)}, asked at ${c.region}: ${c.regions.filter((r) => r.ok).length} of ${c.regions.length} regions answered`);
  out.push('');
  out.push(...table(['REGION', 'ANSWER', 'STORE', 'BOOTSTRAP', 'LEASES', 'DIVERGED', 'PENDING', 'WITNESS'], c.regions.map((r) => {
    if (!r.ok || !r.status) return [r.region, 'no', '-', '-', '-', '-', '-', '-'];
    const s = r.status;
    return [r.region, r.ms === undefined ? 'yes' : fmtMs(r.ms), storeText(s), bootstrapText(s), leasesText(r.region, s), divergedText(s), pendingText(s), witnessText(s)];
  })));
  for (const r of c.regions) if (!r.ok) out.push(`  ${r.region} did not answer at ${r.url}: ${r.error ?? UNKNOWN}`);
  const instances = instanceRows(c);
  if (instances.length > 0) {
    out.push('');
    out.push(...table(['REGION', 'INSTANCE', 'ROLE', 'URL', 'SEEN'], instances));
  }
  out.push('');
  const links: string[][] = [];
  for (const r of c.regions) {
    if (!r.ok || !r.status) continue;
    const peers = Array.isArray(r.status.peers) ? (r.status.peers as Json[]) : [];
    for (const p of peers) {
      links.push([`${r.region} → ${str(p.region)}`, str(p.state), str(p.linkState), msText(p.rttMs), msText(p.heartbeatAgeMs), lagText(p), p.needsRepair === true ? 'NEEDS REPAIR' : p.needsRepair === false ? 'no' : UNKNOWN]);
    }
  }
  if (links.length > 0) out.push(...table(['LINK', 'PEER', 'CONNECTION', 'RTT', 'HEARD', 'LAG', 'REPAIR'], links));
  else out.push('no links (a single region, or no region answered)');
  if (o.partitions) {
    out.push('');
    out.push(...renderPartitions(c));
  }
  return out;
}

/** Regions with several gateway instances (status.coordination): each instance, the coordinator marked. */
export function instanceRows(c: ClusterBody): string[][] {
  const rows: string[][] = [];
  for (const r of c.regions) {
    const co = r.ok ? (r.status?.coordination as Json | undefined) : undefined;
    if (!co) continue;
    const coordinator = (co.coordinator as Json | null | undefined)?.id;
    const list = Array.isArray(co.instances) ? (co.instances as Json[]) : [];
    for (const i of list) rows.push([r.region, str(i.id), i.id === coordinator ? 'coordinator' : 'instance', str(i.url), msText(i.seenMsAgo)]);
    if (list.length === 0) rows.push([r.region, str(co.id), str(co.role), UNKNOWN, UNKNOWN]);
  }
  return rows;
}

/** Per keyspace, as the first region that answered sees it: owner → count [partition ranges], states other than active, and where another region disagrees. */
export function renderPartitions(c: ClusterBody): string[] {
  const answered = c.regions.filter((r) => r.ok && r.status);
  const seer = answered[0];
  if (!seer) return ['partitions: no region answered'];
  const out: string[] = [`partitions as ${seer.region} sees them (owner: count [partitions]):`];
  const keyspaces = Array.isArray(seer.status!.keyspaces) ? (seer.status!.keyspaces as Json[]) : [];
  for (const ks of keyspaces) {
    const parts = Array.isArray(ks.partitions) ? (ks.partitions as Json[]) : [];
    const byOwner = new Map<string, number[]>();
    const byState = new Map<string, number[]>();
    for (const p of parts) {
      const n = Number(p.partition);
      push(byOwner, typeof p.active === 'string' && p.active !== '' ? p.active : UNKNOWN, n);
      const state = str(p.state);
      if (state !== 'active' && state !== 'replicating') push(byState, state, n);
    }
    out.push(`  ${str(ks.name)} (${str(ks.writes)}, ${str(ks.onSplit)}, ${parts.length} partitions)`);
    for (const [owner, ps] of [...byOwner.entries()].sort(([a], [b]) => a.localeCompare(b))) out.push(`    ${owner}: ${ps.length} [${ranges(ps)}]`);
    for (const [state, ps] of byState) out.push(`    ${state} at ${seer.region}: ${ps.length} [${ranges(ps)}]`);
    for (const other of answered.slice(1)) {
      const theirs = ((other.status!.keyspaces as Json[] | undefined) ?? []).find((k) => k.name === ks.name);
      const tp = Array.isArray(theirs?.partitions) ? (theirs.partitions as Json[]) : [];
      const differ = parts.filter((p) => tp.find((q) => q.partition === p.partition)?.active !== p.active).map((p) => Number(p.partition));
      if (differ.length > 0) out.push(`    ${other.region} sees another owner for ${differ.length} [${ranges(differ)}]`);
    }
  }
  return out;
}

/** Why the command exits 1 (empty: every region answered and looks healthy). */
export function statusProblems(c: ClusterBody): string[] {
  const out: string[] = [];
  for (const r of c.regions) {
    if (!r.ok || !r.status) { out.push(`${r.region} did not answer at ${r.url}: ${r.error ?? UNKNOWN}`); continue; }
    const s = r.status;
    const store = s.store as Json | undefined;
    if (store?.ok === false) out.push(`${r.region}: its Redis does not answer (${str(store.error)})`);
    const b = s.bootstrap as Json | undefined;
    if (b && b.writesOpen === false) out.push(`${r.region}: writes not open yet (bootstrap ${str(b.state)})`);
    for (const p of (Array.isArray(s.peers) ? (s.peers as Json[]) : [])) {
      if (p.state !== 'up') out.push(`${r.region} → ${str(p.region)}: link ${str(p.state)}`);
      if (p.needsRepair === true) out.push(`${r.region} → ${str(p.region)}: needs repair`);
    }
    const diverged = divergedCount(s) ?? 0;
    if (diverged > 0) out.push(`${r.region}: ${diverged} diverged partitions`);
  }
  return out;
}

function storeText(s: Json): string {
  const store = s.store as Json | undefined;
  if (!store) return UNKNOWN;
  return store.ok === true ? 'ok' : 'DOWN';
}

function bootstrapText(s: Json): string {
  const b = s.bootstrap as Json | undefined;
  if (!b) return UNKNOWN;
  return b.writesOpen === false ? `${str(b.state)} (writes closed)` : str(b.state);
}

/** Partitions this region holds the lease of (without a witness: those it is the static active region of). */
function leasesText(region: string, s: Json): string {
  const own = s.ownership as Json | undefined;
  if (typeof own?.leased === 'number') return String(own.leased);
  if (own?.mode !== undefined && Array.isArray(s.keyspaces)) {
    let n = 0;
    for (const ks of s.keyspaces as Json[]) for (const p of (ks.partitions as Json[] | undefined) ?? []) if (p.active === region) n++;
    return `${n} (static)`;
  }
  return UNKNOWN;
}

/** Partitions the region reports diverged (their state), or its ownership's list when it sends no states. */
function divergedCount(s: Json): number | undefined {
  if (Array.isArray(s.keyspaces)) {
    let n = 0;
    for (const ks of s.keyspaces as Json[]) for (const p of (ks.partitions as Json[] | undefined) ?? []) if (p.state === 'diverged') n++;
    return n;
  }
  const d = (s.ownership as Json | undefined)?.diverged;
  return Array.isArray(d) ? d.length : undefined;
}

function divergedText(s: Json): string {
  const n = divergedCount(s);
  return n === undefined ? UNKNOWN : String(n);
}

function pendingText(s: Json): string {
  const p = (s.conflicts as Json | undefined)?.pending;
  return typeof p === 'number' ? String(p) : UNKNOWN;
}

function witnessText(s: Json): string {
  const own = s.ownership as Json | undefined;
  if (!own) return UNKNOWN;
  if (own.mode !== undefined && own.witness === undefined) return 'none';
  if (own.witnessReachable === true) return 'reachable';
  if (own.witnessReachable === false) return 'UNREACHABLE';
  return UNKNOWN;
}

function lagText(p: Json): string {
  const e = typeof p.lagEntries === 'number' ? `${p.lagEntries}` : UNKNOWN;
  return `${e} entries / ${msText(p.lagMs)}`;
}

function msText(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? fmtMs(v) : UNKNOWN;
}

function fmtMs(v: number | undefined): string {
  if (v === undefined) return UNKNOWN;
  return v >= 10_000 ? `${(v / 1000).toFixed(0)} s` : v >= 100 ? `${Math.round(v)} ms` : `${(Math.round(v * 10) / 10).toFixed(1)} ms`;
}

function str(v: unknown): string {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : UNKNOWN;
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  const list = m.get(k);
  if (list) list.push(v); else m.set(k, [v]);
}

/** `0-3,5,7-9`, cut with `,…` before it passes RANGES_CHARS_MAX (a line stays within a 120-column terminal). */
export const RANGES_CHARS_MAX = 90;
export function ranges(ns: readonly number[]): string {
  const s = [...ns].sort((a, b) => a - b);
  let text = '';
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    const piece = j === i ? `${s[i]}` : `${s[i]}-${s[j]}`;
    const next = text === '' ? piece : `${text},${piece}`;
    if (next.length > RANGES_CHARS_MAX) return `${text},…`;
    text = next;
    i = j + 1;
  }
  return text;
}

/** Columns padded to the widest cell, two spaces apart. */
export function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}
