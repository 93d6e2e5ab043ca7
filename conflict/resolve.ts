import type { CompensationAction } from './actions.js';
import { type ConcurrentType, classify } from './classify.js';
import { ResolverSpecError } from './errors.js';
import { EXPIRED_CONTENT_TYPE, refreshesExpired } from './expired.js';
import { compareHlc } from './hlc.js';
import { conflictId } from './ids.js';
import { counterResolver } from './resolvers/counter.js';
import { type Decision, type PairInput, type TriggerFailure, lww, lwwSide, pick } from './resolvers/decision.js';
import { jsonMergeResolver } from './resolvers/json-merge.js';
import { epochFence, sourceWins, updateWins } from './resolvers/pick.js';
import { setResolver } from './resolvers/set.js';
import { runTrigger } from './trigger-run.js';
import type { TriggerRegistry } from './triggers.js';
import type { Hlc, RecordVersion } from './types.js';
import { bumpVv, mergeVv } from './vv.js';

export type ResolverSpec =
  | { readonly kind: 'lww' | 'source-wins' | 'counter' | 'set' | 'json-merge' }
  | { readonly kind: 'trigger'; readonly name: string };

const BUILT_IN = ['lww', 'source-wins', 'counter', 'set', 'json-merge'] as const;

/** Parses a keyspace's `resolver` setting; throws `ResolverSpecError` when unknown. */
export function parseResolver(text: string): ResolverSpec {
  const builtIn = BUILT_IN.find((name) => name === text);
  if (builtIn) return { kind: builtIn };
  const name = /^trigger:(.+)$/.exec(text)?.[1];
  if (name !== undefined) return { kind: 'trigger', name };
  throw new ResolverSpecError(text);
}

/** Where and by whom a conflict is resolved. */
export interface MergeContext {
  readonly keyspace: string;
  readonly key: string;
  readonly partition: number;
  /** The resolving region (the partition's active region): its counter is bumped in the new vv. */
  readonly region: string;
  /** The partition's active region: the source of `source-wins` in a normal merge. */
  readonly activeRegion: string;
  /** Operator restore from a named source region: overrides `activeRegion` for `source-wins`. */
  readonly restoreSource?: string;
  /** Fence keyspaces: the partition's current epoch (see `ClassifyOptions`). */
  readonly fenceEpoch?: number;
  /** Epoch stamped on the resolution; default: the higher of the two inputs'. */
  readonly epoch?: number;
  /** The resolving region's latest HLC: `resolvedHlc` is above it (the version's own stamp is its winner's). */
  readonly hlcFloor?: Hlc;
  /**
   * The largest value a record may hold (`limits.valueBytesMax`). A merged value (set union,
   * json merge, counter, a trigger's) above it is not stored: the pair is resolved by lww
   * instead and the other side journaled, so no resolution can outgrow what every region
   * accepts and every link can carry.
   */
  readonly valueBytesMax?: number;
}

export interface ResolveInput {
  readonly current: RecordVersion;
  readonly incoming: RecordVersion;
  readonly base?: RecordVersion;
  readonly resolver: string | ResolverSpec;
  readonly ctx: MergeContext;
  readonly triggers?: TriggerRegistry;
}

/** The outcome of a conflict: a new version to store and ship, and what to journal. */
export interface Resolution {
  /**
   * The new version: vv = bump(merge(current.vv, incoming.vv), region); hlc and origin are
   * the winner's write stamp (for a merged value, the lww winner's), so lww between this
   * version and any later one is decided by when the writes were made.
   */
  readonly version: RecordVersion;
  /** When it was resolved: one tick above both inputs and `ctx.hlcFloor` (journal, the region's clock). */
  readonly resolvedHlc: Hlc;
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly tombstone: boolean;
  /** Whose content the new version carries; 'merged' when it was computed from both. */
  readonly winner: 'current' | 'incoming' | 'merged';
  /** The side whose content was discarded (absent when merged). */
  readonly loser?: RecordVersion;
  readonly type: ConcurrentType;
  /** False only for delete-vs-delete: not a conflict, nothing to journal. */
  readonly journal: boolean;
  /** Same for both argument orders and in every region: the journal's dedup key. */
  readonly conflictId: string;
  /** The keyspace's configured resolver. */
  readonly configured: string;
  /** The rule that decided: lww, source-wins, counter, set, json-merge, trigger:<name>, epoch-fence, update-wins, tombstones, expiry-refresh. */
  readonly resolver: string;
  readonly note?: string;
  /** A trigger's failure (the resolution then fell back to lww). */
  readonly error?: TriggerFailure;
  /** Compensations to perform once each (by id); only triggers request them. */
  readonly actions: readonly CompensationAction[];
}

/**
 * Resolves a concurrent pair. Pure and deterministic: the content (value, content type,
 * tombstone) and the new version do not depend on which side is `current`, so any region
 * computing it gets the same answer. Calling it for a pair that is not concurrent is a
 * programmer error (classify first).
 */
export function resolve(input: ResolveInput): Resolution {
  const { current, incoming, ctx } = input;
  const c = classify(current, incoming, ctx.fenceEpoch === undefined ? {} : { fenceEpoch: ctx.fenceEpoch });
  if (c.action !== 'resolve') throw new Error(`resolve() needs a concurrent pair, got ${c.order}`);
  const spec = typeof input.resolver === 'string' ? parseResolver(input.resolver) : input.resolver;
  const pair: PairInput = input.base ? { current, incoming, base: input.base, type: c.type } : { current, incoming, type: c.type };
  const decision = boundMerged(decide(spec, pair, input), pair, ctx.valueBytesMax);
  const kept = decision.winner === 'current' ? current : incoming;
  const content = decision.merged ?? kept;
  const tombstone = content.tombstone;
  const stamp = stampOf(pair, content);
  const version: RecordVersion = {
    vv: bumpVv(mergeVv(current.vv, incoming.vv), ctx.region),
    hlc: stamp.hlc,
    origin: stamp.origin,
    epoch: ctx.epoch ?? Math.max(current.epoch, incoming.epoch),
    tombstone,
    // an expiry tombstone kept keeps its mark (the version it expired, conflict/expired.ts)
    value: tombstone && content.contentType !== EXPIRED_CONTENT_TYPE ? new Uint8Array(0) : content.value,
    contentType: content.contentType,
    // the expiry is part of the content kept: a merged value (computed from both) has none
    ...(!tombstone && !decision.merged && kept.expiresAtMs !== undefined && { expiresAtMs: kept.expiresAtMs }),
  };
  const loser = decision.winner === 'current' ? incoming : decision.winner === 'incoming' ? current : undefined;
  return {
    version,
    resolvedHlc: nextHlc(current.hlc, incoming.hlc, ctx.hlcFloor),
    value: version.value,
    contentType: version.contentType,
    tombstone,
    winner: decision.winner,
    ...(loser && { loser }),
    type: c.type,
    journal: c.journal,
    conflictId: conflictId(ctx.keyspace, ctx.key, current.vv, incoming.vv),
    configured: specText(spec),
    resolver: decision.resolver,
    ...(decision.note !== undefined && { note: decision.note }),
    ...(decision.error && { error: decision.error }),
    actions: decision.actions ?? [],
  };
}

function decide(spec: ResolverSpec, pair: PairInput, input: ResolveInput): Decision {
  const { ctx } = input;
  if (pair.type === 'delete-vs-delete') return { ...lww(pair), resolver: 'tombstones' };
  if (spec.kind === 'trigger') {
    const triggerCtx = { keyspace: ctx.keyspace, key: ctx.key, partition: ctx.partition, region: ctx.region };
    return runTrigger(spec.name, input.triggers, pair, triggerCtx);
  }
  if (pair.type === 'stale-epoch') return epochFence(pair, ctx.fenceEpoch as number);
  const refresh = expiryRefresh(pair);
  if (refresh) return refresh;
  if (spec.kind === 'lww') return lww(pair);
  if (spec.kind === 'source-wins') return sourceWins(pair, ctx.restoreSource ?? ctx.activeRegion);
  if (pair.type === 'delete-vs-update') return updateWins(pair, spec.kind);
  if (spec.kind === 'counter') return counterResolver(pair);
  return spec.kind === 'set' ? setResolver(pair) : jsonMergeResolver(pair);
}

/**
 * An expiry tombstone against a live version that dominates the version it expired: the live
 * side wins, whatever the stamps and the resolver (docs/expiry.md, "Its stamp is the
 * expiry's own"). The expiry was superseded by that write before it took effect.
 */
function expiryRefresh(pair: PairInput): Decision | undefined {
  if (pair.type !== 'delete-vs-update') return undefined;
  if (refreshesExpired(pair.current, pair.incoming)) return pick('current', 'expiry-refresh');
  if (refreshesExpired(pair.incoming, pair.current)) return pick('incoming', 'expiry-refresh');
  return undefined;
}

/** A merged value over the value limit falls back to lww (both inputs are within the limit). */
function boundMerged(decision: Decision, pair: PairInput, valueBytesMax: number | undefined): Decision {
  if (valueBytesMax === undefined || decision.winner !== 'merged' || !decision.merged || decision.merged.value.byteLength <= valueBytesMax) return decision;
  const note = `${decision.resolver}: merged value of ${decision.merged.value.byteLength} bytes over limits.valueBytesMax ${valueBytesMax}; resolved by lww, the other side is journaled`;
  const fallback = lww(pair, note);
  return decision.error ? { ...fallback, error: decision.error } : fallback;
}

/**
 * The write stamp a resolution carries for later comparisons: that of the side whose content
 * it kept (when the content equals exactly one side's), else the lww winner's of the pair.
 * Never the time of resolution: a resolution stamped "now" would beat every version resolved
 * after it, however much later that version was written. Symmetric in the pair.
 */
function stampOf(pair: PairInput, content: { value: Uint8Array; contentType: string; tombstone: boolean }): RecordVersion {
  const same = (v: RecordVersion) => v.tombstone === content.tombstone && v.contentType === content.contentType
    && (v.tombstone || Buffer.compare(v.value, content.value) === 0);
  const c = same(pair.current);
  const i = same(pair.incoming);
  if (c !== i) return c ? pair.current : pair.incoming;
  return lwwSide(pair);
}

function specText(spec: ResolverSpec): string {
  return spec.kind === 'trigger' ? `trigger:${spec.name}` : spec.kind;
}

/** One logical tick above the highest of the inputs (and of the resolver's own clock). */
function nextHlc(a: Hlc, b: Hlc, floor: Hlc | undefined): Hlc {
  let top = compareHlc(a, b) >= 0 ? a : b;
  if (floor && compareHlc(floor, top) > 0) top = floor;
  return [top[0], top[1] + 1];
}
