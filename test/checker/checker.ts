/**
 * The history checker: pure, takes the workload's history, the record of every key as each
 * region holds it at the end (after the run healed and settled), and the conflict journals
 * of all regions. Invariants:
 *
 *  - convergence: every region holds the same version, tombstone flag and value for every key;
 *  - no lost acknowledged write: an acked write (or delete) is the final version, or the final
 *    version has seen it (dominates it) and something accounts for its value being gone — a
 *    later acked write whose version dominates it, a conflict-journal entry naming its
 *    version, the final value being its own (a resolution kept it), or a write of unknown
 *    outcome still open after it began (it may have overwritten it);
 *  - no resurrected delete: when a key ends live, every acked delete of it is accounted for
 *    the same way (an acked write that saw the tombstone, a journaled delete-vs-update, a
 *    later tombstone dominating it that lost a journaled delete-vs-update, or a
 *    possibly-later write of unknown outcome);
 *  - fence single writer: on a `fence` keyspace no two acknowledged writes of a key have
 *    concurrent versions (two regions took writes without seeing each other);
 *  - split-brain (fence keyspaces, per partition): no region acknowledges a write after
 *    another region acknowledged one at a higher epoch (split-brain.ts);
 *  - stale-epoch loss (fence keyspaces): an acknowledged write that the merge recorded as a
 *    `stale-epoch` loser is a lost write, journal entry or not — except on keyspaces named in
 *    `asyncFailoverKeyspaces` (no sync replica: an owner cut off inside its lease acknowledged
 *    writes no other site had; docs/design-notes.md), where such a loser must be recoverable
 *    byte for byte like any other, and is counted (`stats.failoverLosers`);
 *  - recoverable losers: a write accounted for only by a conflict-journal entry must be in
 *    that entry byte for byte (its value, or its tombstone for a delete);
 *  - lww (keyspaces in `lwwKeyspaces`): among the acked writes of a key that no other acked
 *    write causally overwrote, the final record is the one with the highest stamp (HLC, then
 *    origin region: conflict/order.ts), when every ack carried its stamp and no write of the
 *    key has an unknown outcome;
 *  - read-your-writes: a read at a region after a write acked there returns a version that
 *    has seen the write (or 404 when a delete may have followed);
 *  - CAS: an acked If-Match write's version strictly dominates the version it matched.
 *
 * "Unknown outcome" writes are assumed to take effect, if at all, before the client gave up
 * on them: the client timeout must exceed the gateway's own timeouts (Redis command,
 * sync replica), which is how the workload is configured.
 */
import { formatOp, type FinalRecord, type JournalEntry, type Op } from './history.js';
import { compareVv, dominatesOrEqual, strictlyDominates } from './vv.js';
import { checkSplitBrain } from './split-brain.js';
import type { GrantRecord } from './history.js';

export type Invariant = 'convergence' | 'lost-write' | 'resurrected-delete' | 'fence-single-writer' | 'split-brain' | 'read-your-writes' | 'cas' | 'lww';

export interface Violation {
  readonly invariant: Invariant;
  /** `keyspace/key`. */
  readonly key: string;
  readonly message: string;
  /** The operations that break the invariant (shown first in the excerpt). */
  readonly ops: readonly Op[];
}

export interface CheckInput {
  readonly ops: readonly Op[];
  /** region → (`keyspace/key` → record, null when the region never had the key). */
  readonly finals: ReadonlyMap<string, ReadonlyMap<string, FinalRecord | null>>;
  readonly journal: readonly JournalEntry[];
  readonly fenceKeyspaces: ReadonlySet<string>;
  /** The witness's grants (its `/v1/decisions`): bound the epoch of acks that do not carry one. */
  readonly grants?: readonly GrantRecord[];
  /** See split-brain.ts (default DEFAULT_ACK_ORDER_SLACK_MS). */
  readonly ackOrderSlackMs?: number;
  /** Fence keyspaces without a sync replica: a stale-epoch loser there is judged as a loser (recoverable), not as lost. */
  readonly asyncFailoverKeyspaces?: ReadonlySet<string>;
  /** Keyspaces resolved by lww: the final record must be the latest-stamped acked write not causally overwritten. */
  readonly lwwKeyspaces?: ReadonlySet<string>;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly stats: { ops: number; acked: number; failed: number; unknown: number; keys: number; journal: number; failoverLosers: number; journalTypes: string };
}

const MUTATIONS = new Set(['write', 'cas', 'delete']);

export function keyOf(op: Pick<Op, 'keyspace' | 'key'>): string {
  return `${op.keyspace}/${op.key}`;
}

function isMutation(op: Op): boolean {
  return MUTATIONS.has(op.kind);
}

export function checkHistory(input: CheckInput): CheckResult {
  const violations: Violation[] = [];
  const byKey = new Map<string, Op[]>();
  for (const op of input.ops) {
    const k = keyOf(op);
    const list = byKey.get(k) ?? [];
    list.push(op);
    byKey.set(k, list);
  }
  const journalByKey = new Map<string, JournalEntry[]>();
  for (const j of input.journal) {
    const k = `${j.keyspace}/${j.key}`;
    journalByKey.set(k, [...(journalByKey.get(k) ?? []), j]);
  }
  const keys = new Set<string>(byKey.keys());
  for (const m of input.finals.values()) for (const k of m.keys()) keys.add(k);
  let failoverLosers = 0;

  for (const key of [...keys].sort()) {
    const ops = byKey.get(key) ?? [];
    const final = checkConvergence(key, input.finals, ops, violations);
    const journal = journalByKey.get(key) ?? [];
    const ks = ops[0]?.keyspace;
    const staleIsLost = ks !== undefined && input.fenceKeyspaces.has(ks) && !input.asyncFailoverKeyspaces?.has(ks);
    checkLostWrites(key, ops, final, journal, violations, staleIsLost);
    if (ks !== undefined && input.asyncFailoverKeyspaces?.has(ks)) failoverLosers += countStaleEpochLosers(ops, journal);
    if (ks !== undefined && input.lwwKeyspaces?.has(ks)) checkLww(key, ops, final, violations);
    checkResurrection(key, ops, final, journal, violations);
    if (ops[0] && input.fenceKeyspaces.has(ops[0].keyspace)) checkFence(key, ops, journal, final, violations);
    checkReadYourWrites(key, ops, violations);
    checkCas(key, ops, violations);
  }
  for (const s of checkSplitBrain(input.ops, input.grants ?? [], input.fenceKeyspaces, input.ackOrderSlackMs)) {
    violations.push({ invariant: 'split-brain', key: s.partition, message: s.message, ops: s.ops });
  }
  const count = (s: string) => input.ops.filter((o) => o.status === s).length;
  return {
    ok: violations.length === 0,
    violations,
    stats: { ops: input.ops.length, acked: count('ok'), failed: count('fail'), unknown: count('unknown'), keys: keys.size, journal: input.journal.length, failoverLosers,
      journalTypes: [...tallyBy(input.journal.map((j) => `${j.keyspace}:${j.type}`))].map(([t, n]) => `${t}=${n}`).join(' ') },
  };
}

function showJournal(e: JournalEntry): string {
  return `${e.type} at ${e.region ?? '?'} current ${e.currentVersion}@e${e.currentEpoch ?? '?'} incoming ${e.incomingVersion}@e${e.incomingEpoch ?? '?'} winner ${e.winner}`;
}

function tallyBy(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

function sameRecord(a: FinalRecord | null, b: FinalRecord | null): boolean {
  if (a === null || b === null) return a === b;
  return a.version === b.version && a.tombstone === b.tombstone && (a.tombstone || a.value === b.value);
}

function showRecord(r: FinalRecord | null | undefined): string {
  if (!r) return 'absent';
  return r.tombstone ? `tombstone v=${r.version}` : `${JSON.stringify(r.value)} v=${r.version}`;
}

/** Returns the final record (the first region's, in name order) after checking all regions agree. */
function checkConvergence(key: string, finals: CheckInput['finals'], ops: Op[], out: Violation[]): FinalRecord | null {
  const regions = [...finals.keys()].sort();
  const records = regions.map((r) => finals.get(r)?.get(key) ?? null);
  const first = records[0] ?? null;
  if (records.some((r) => !sameRecord(r, first))) {
    const shown = regions.map((r, i) => `${r}: ${showRecord(records[i])}`).join('; ');
    out.push({ invariant: 'convergence', key, message: `regions differ: ${shown}`, ops: lastMutations(ops, 6) });
  }
  return first;
}

function lastMutations(ops: Op[], n: number): Op[] {
  return ops.filter((o) => isMutation(o) && o.status !== 'fail').slice(-n);
}

/** A mutation of unknown outcome that was still open when `op` began may have overwritten it. */
function possiblyLaterUnknown(ops: Op[], op: Op, kinds: ReadonlySet<string>): Op | undefined {
  return ops.find((x) => x !== op && kinds.has(x.kind) && x.status === 'unknown' && (x.completeMs ?? Infinity) > op.invokeMs);
}

function journaled(journal: JournalEntry[], version: string): JournalEntry | undefined {
  return journal.find((j) => j.currentVersion === version || j.incomingVersion === version);
}

/**
 * The delete's effect was carried on by a later tombstone that dominates it — a resolution
 * that kept the delete, or another delete — and that tombstone is the recorded loser of a
 * journaled delete-vs-update conflict: the delete lost to a write through that conflict.
 */
function lostAsLaterTombstone(key: string, journal: JournalEntry[], version: string): boolean {
  return journal.some((j) => `${j.keyspace}/${j.key}` === key && j.type === 'delete-vs-update'
    && (j.winner === 'current' || j.winner === 'incoming')
    && dominatesOrEqual(j.winner === 'current' ? j.incomingVersion : j.currentVersion, version));
}

/** True when the journal entry holds `w`'s content: its value byte for byte, or a tombstone for a delete. */
function recoverable(entry: JournalEntry, w: Op): boolean {
  const side = entry.currentVersion === w.version ? 'current' : 'incoming';
  const tombstone = side === 'current' ? entry.currentTombstone : entry.incomingTombstone;
  const value = side === 'current' ? entry.currentValue : entry.incomingValue;
  if (w.kind === 'delete') return tombstone !== false;
  return tombstone !== true && value === w.value;
}

/** Acked writes recorded as stale-epoch losers (an async failover superseded them; they are in the journal). */
function countStaleEpochLosers(ops: Op[], journal: JournalEntry[]): number {
  return ops.filter((w) => isMutation(w) && w.status === 'ok' && w.version !== undefined && staleEpochLoser(journal, w.version) !== undefined).length;
}

/** `wallMs.logical` stamps, then origin region (conflict/order.ts compareLww's first keys). */
function compareStamp(a: Op, b: Op): number {
  const [aw, al] = a.hlc!.split('.').map(Number) as [number, number];
  const [bw, bl] = b.hlc!.split('.').map(Number) as [number, number];
  if (aw !== bw) return aw - bw;
  if (al !== bl) return al - bl;
  const ao = a.ackRegion ?? a.region;
  const bo = b.ackRegion ?? b.region;
  return ao < bo ? -1 : ao > bo ? 1 : 0;
}

/**
 * lww: of the acked writes no other acked write causally overwrote (concurrent ones, e.g. both
 * sides of a split), the final record must be the latest-stamped. Skipped for a key with a
 * write of unknown outcome (it may carry the latest stamp) or an ack without a stamp.
 */
function checkLww(key: string, ops: Op[], final: FinalRecord | null, out: Violation[]): void {
  if (!final) return;
  const acked = ops.filter((o) => isMutation(o) && o.status === 'ok' && o.version !== undefined);
  if (acked.length < 2 || acked.some((o) => o.hlc === undefined) || ops.some((o) => isMutation(o) && o.status === 'unknown')) return;
  const candidates = acked.filter((w) => !acked.some((x) => x !== w && strictlyDominates(x.version!, w.version!)));
  if (candidates.length < 2) return;
  const best = candidates.reduce((a, b) => (compareStamp(a, b) >= 0 ? a : b));
  const isBest = best.kind === 'delete' ? final.tombstone : !final.tombstone && final.value === best.value;
  if (isBest) return;
  out.push({ invariant: 'lww', key,
    message: `lww ended on ${showRecord(final)}, not on the acked ${best.kind} with the highest stamp (${best.hlc} at ${best.ackRegion ?? best.region}, v=${best.version}); `
      + `concurrent acked writes: ${candidates.map((c) => `${c.hlc}@${c.ackRegion ?? c.region}`).join(', ')}`,
    ops: [best, ...candidates.filter((c) => c !== best)] });
}

/** The stale-epoch entry that records `version` as its loser. */
function staleEpochLoser(journal: JournalEntry[], version: string): JournalEntry | undefined {
  return journal.find((j) => j.type === 'stale-epoch'
    && ((j.winner === 'current' && j.incomingVersion === version) || (j.winner === 'incoming' && j.currentVersion === version)));
}

function checkLostWrites(key: string, ops: Op[], final: FinalRecord | null, journal: JournalEntry[], out: Violation[], fence: boolean): void {
  for (const w of ops) {
    if (!isMutation(w) || w.status !== 'ok' || w.version === undefined) continue;
    const stale = fence ? staleEpochLoser(journal, w.version) : undefined;
    if (stale) {
      out.push({ invariant: 'lost-write', key,
        message: `acked ${w.kind} v=${w.version} at ${w.ackRegion ?? w.region} lost a stale-epoch merge on a fence keyspace (${showJournal(stale)})`, ops: [w, ...lastMutations(ops, 4)] });
      continue;
    }
    if (w.kind === 'delete' && final && !final.tombstone) continue; // judged as a resurrection
    if (final === null) {
      out.push({ invariant: 'lost-write', key, message: `acked ${w.kind} v=${w.version} but no region holds the key`, ops: [w] });
      continue;
    }
    if (final.version === w.version) {
      const sameContent = w.kind === 'delete' ? final.tombstone : !final.tombstone && final.value === w.value;
      if (!sameContent) out.push({ invariant: 'lost-write', key, message: `final record has the acked version ${w.version} but other content (${showRecord(final)})`, ops: [w] });
      continue;
    }
    if (!dominatesOrEqual(final.version, w.version)) {
      out.push({ invariant: 'lost-write', key,
        message: `final version ${final.version} has not seen the acked ${w.kind} v=${w.version} (${compareVv(w.version, final.version)})`, ops: [w, ...lastMutations(ops, 4)] });
      continue;
    }
    if (w.kind !== 'delete' && !final.tombstone && final.value === w.value) continue;
    // a delete whose key ends deleted by a version that saw it (e.g. two concurrent deletes merged, not journaled by design)
    if (w.kind === 'delete' && final.tombstone) continue;
    const successor = ops.find((x) => x !== w && isMutation(x) && x.status === 'ok' && x.version !== undefined && strictlyDominates(x.version, w.version!));
    if (successor || possiblyLaterUnknown(ops, w, MUTATIONS)) continue;
    const entry = journaled(journal, w.version);
    if (entry) {
      if (!recoverable(entry, w)) {
        out.push({ invariant: 'lost-write', key,
          message: `acked ${w.kind} v=${w.version} is journaled (${showJournal(entry)}) but cannot be recovered from it byte for byte`, ops: [w] });
      }
      continue;
    }
    out.push({ invariant: 'lost-write', key,
      message: `acked ${w.kind} v=${w.version} was overwritten (final ${showRecord(final)}) by no acked write that saw it and is in no conflict journal`,
      ops: [w, ...lastMutations(ops, 4)] });
  }
}

function checkResurrection(key: string, ops: Op[], final: FinalRecord | null, journal: JournalEntry[], out: Violation[]): void {
  if (!final || final.tombstone) return;
  const writes = new Set(['write', 'cas']);
  for (const d of ops) {
    if (d.kind !== 'delete' || d.status !== 'ok' || d.version === undefined) continue;
    const successor = ops.find((x) => writes.has(x.kind) && x.status === 'ok' && x.version !== undefined && strictlyDominates(x.version, d.version!));
    if (successor || journaled(journal, d.version) || lostAsLaterTombstone(key, journal, d.version) || possiblyLaterUnknown(ops, d, writes)) continue;
    out.push({ invariant: 'resurrected-delete', key,
      message: `acked delete v=${d.version} is not dominated by any acked write, yet the key ends live (${showRecord(final)})`,
      ops: [d, ...lastMutations(ops, 4)] });
  }
}

/**
 * Two acked writes of a fence key with concurrent versions. When their request windows
 * overlap (neither completed before the other began) two regions took writes at once: a
 * violation. When one completed before the other began it is a failover that forked the
 * key (the old owner's write had not replicated before its lease ran out and the next owner
 * took over); the design allows that only as a stale-owner write recognised at the merge, so
 * it must be journaled as `stale-epoch` — otherwise it is a violation too.
 */
function checkFence(key: string, ops: Op[], journal: JournalEntry[], final: FinalRecord | null, out: Violation[]): void {
  const acked = ops.filter((o) => isMutation(o) && o.status === 'ok' && o.version !== undefined);
  for (let i = 0; i < acked.length; i++) {
    for (let j = i + 1; j < acked.length; j++) {
      const a = acked[i]!;
      const b = acked[j]!;
      if (compareVv(a.version!, b.version!) !== 'concurrent') continue;
      const [first, second] = (a.completeMs ?? Infinity) < b.invokeMs ? [a, b] : (b.completeMs ?? Infinity) < a.invokeMs ? [b, a] : [undefined, undefined];
      if (!first || !second) {
        out.push({ invariant: 'fence-single-writer', key,
          message: `two regions acknowledged writes at once on a fence keyspace, with concurrent versions ${a.version} (at ${a.ackRegion}) and ${b.version} (at ${b.ackRegion})`,
          ops: [a, b] });
        return; // one report per key
      }
      const staleEpoch = journal.some((e) => e.type === 'stale-epoch'
        && [e.currentVersion, e.incomingVersion].some((v) => v !== '' && dominatesOrEqual(v, first.version!) && compareVv(v, second.version!) === 'concurrent'));
      if (!staleEpoch && !endedInDeletes(first, final) && !mergedAsDeletes(first, second, acked)) {
        out.push({ invariant: 'fence-single-writer', key,
          message: `fence key forked: ${first.version} acked at ${first.ackRegion}, then ${second.version} acked at ${second.ackRegion} without seeing it, `
            + `and no stale-epoch journal entry records the old owner's write; journal for the key: ${journal.map(showJournal).join('; ') || 'none'}`,
          ops: [first, second] });
        return;
      }
    }
  }
}

/**
 * The key ends deleted by a tombstone that saw `first`, and no journal entry names the fork:
 * the only merge that journals nothing is delete-vs-delete, so both sides' last word was a
 * delete (the old owner's an acked one, or one of unknown outcome that took effect) and
 * nothing of the old owner's writes is lost silently.
 */
function endedInDeletes(first: Op, final: FinalRecord | null): boolean {
  return !!final?.tombstone && dominatesOrEqual(final.version, first.version!);
}

/**
 * Both sides of the fork had deleted the key when they met: the old owner's last acked word
 * after `first` (among its writes the new owner never saw) is a delete, and so is the new
 * owner's last acked word after `second` among the writes that never saw that delete. The merge
 * was delete-vs-delete, which journals nothing by design and loses nothing: the old owner's
 * forked writes were superseded by its own acked delete. Later writes (after the heal, seeing
 * both) may make the key live again; endedInDeletes alone would miss that.
 */
function mergedAsDeletes(first: Op, second: Op, acked: Op[]): boolean {
  const last = (ops: Op[]): Op | undefined => {
    const top = ops.filter((o) => !ops.some((x) => x !== o && strictlyDominates(x.version!, o.version!)));
    return top.length === 1 ? top[0] : undefined;
  };
  const oldSide = last(acked.filter((o) => dominatesOrEqual(o.version!, first.version!) && compareVv(o.version!, second.version!) === 'concurrent'));
  if (oldSide?.kind !== 'delete') return false;
  const newSide = last(acked.filter((o) => dominatesOrEqual(o.version!, second.version!) && compareVv(o.version!, oldSide.version!) === 'concurrent'));
  return newSide?.kind === 'delete';
}

function checkReadYourWrites(key: string, ops: Op[], out: Violation[]): void {
  for (const r of ops) {
    if (r.kind !== 'read' || r.status !== 'ok' || r.version === undefined) continue;
    const region = r.ackRegion ?? r.region;
    let last: Op | undefined;
    for (const w of ops) {
      if (!isMutation(w) || w.status !== 'ok' || w.version === undefined || (w.ackRegion ?? w.region) !== region) continue;
      if ((w.completeMs ?? Infinity) < r.invokeMs && (!last || (w.completeMs ?? 0) > (last.completeMs ?? 0))) last = w;
    }
    if (!last) continue;
    if (r.version === '') {
      if (last.kind === 'delete') continue;
      const deleteMayFollow = ops.some((d) => d.kind === 'delete' && d.status !== 'fail' && d.invokeMs < (r.completeMs ?? Infinity));
      if (!deleteMayFollow) {
        out.push({ invariant: 'read-your-writes', key, message: `read at ${region} found nothing after the ${last.kind} acked there (v=${last.version}) and no delete could explain it`, ops: [last, r] });
      }
      continue;
    }
    if (!dominatesOrEqual(r.version, last.version!)) {
      out.push({ invariant: 'read-your-writes', key,
        message: `read at ${region} returned v=${r.version}, which has not seen the ${last.kind} acked there before it (v=${last.version})`, ops: [last, r] });
    }
  }
}

function checkCas(key: string, ops: Op[], out: Violation[]): void {
  for (const c of ops) {
    if (c.kind !== 'cas' || c.status !== 'ok' || c.version === undefined || !c.ifMatch || c.ifMatch === '*') continue;
    if (!strictlyDominates(c.version, c.ifMatch)) {
      out.push({ invariant: 'cas', key, message: `If-Match ${c.ifMatch} write acked with v=${c.version}, which does not follow it`, ops: [c] });
    }
  }
}

export const REPORT_VIOLATIONS_MAX = 12;
export const EXCERPT_CONTEXT_OPS = 6;

/** Human-readable report: each violation with the ops that break it and the key's nearby history. */
export function formatReport(result: CheckResult, ops: readonly Op[]): string {
  const t0 = ops[0]?.invokeMs ?? 0;
  const s = result.stats;
  const lines = [`history: ${s.ops} ops (${s.acked} ok, ${s.failed} fail, ${s.unknown} unknown) on ${s.keys} keys; ${s.journal} journal entries${s.journalTypes ? ` (${s.journalTypes})` : ''}; `
    + `${result.violations.length} violation(s)`];
  for (const v of result.violations.slice(0, REPORT_VIOLATIONS_MAX)) {
    lines.push('', `[${v.invariant}] ${v.key}: ${v.message}`);
    const ids = new Set<number>();
    for (const op of v.ops) if (!ids.has(op.id)) { ids.add(op.id); lines.push(`  ! ${formatOp(op, t0)}`); }
    const sameKey = ops.filter((o) => (v.invariant === 'split-brain' ? o.partition === v.key && isMutation(o) : keyOf(o) === v.key) && o.status !== 'fail');
    const anchor = v.ops[0];
    const at = anchor ? sameKey.findIndex((o) => o.id === anchor.id) : -1;
    const from = Math.max(0, (at < 0 ? sameKey.length : at) - EXCERPT_CONTEXT_OPS);
    for (const op of sameKey.slice(from, from + 2 * EXCERPT_CONTEXT_OPS)) if (!ids.has(op.id)) lines.push(`    ${formatOp(op, t0)}`);
  }
  if (result.violations.length > REPORT_VIOLATIONS_MAX) lines.push('', `… ${result.violations.length - REPORT_VIOLATIONS_MAX} more`);
  return lines.join('\n');
}
