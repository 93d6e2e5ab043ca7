/**
 * What the voters must agree on, in one canonical form: lease length, drift margin, vote
 * weights, regions, and per keyspace its partitions, node lists, sync replicas and split mode;
 * between regions also the placement (ring slots, Merkle buckets) and the resolver. The
 * witness builds it from its config, every gateway from its own (gateway/shared-settings.ts);
 * every handshake (region ↔ witness, region ↔ region) compares them and refuses a
 * disagreement naming the first differing field (`diffSettings`). Pure: no I/O, no clock.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_VOTE_WEIGHT, defaultNodeList, WITNESS_VOTER } from './topology.js';

export const SETTINGS_VERSION = 1;
/** Bounds of a settings object received from a peer or a region (untrusted). */
export const SETTINGS_KEYSPACES_MAX = 256;
export const SETTINGS_PARTITIONS_MAX = 4096;
export const SETTINGS_REGIONS_MAX = 17; // 16 regions + the witness in `weights`

export interface SettingsKeyspace {
  readonly name: string;
  readonly partitions: number;
  readonly onSplit: 'fence' | 'diverge';
  /** Node list of each partition (regions in priority order), resolved (rotation applied). */
  readonly nodes: readonly (readonly string[])[];
  /** Sync replicas (a set: sorted). */
  readonly sync: readonly string[];
  /** Placement and merge rules: known to the gateways only (compared between regions). */
  readonly ringSlots?: number;
  readonly resolver?: string;
  readonly writes?: string;
}

export interface SharedSettings {
  readonly v: typeof SETTINGS_VERSION;
  readonly leaseMs: number;
  readonly driftMarginMs: number;
  readonly regions: readonly string[];
  /** Vote weight of every voter (the regions and `witness`). */
  readonly weights: Readonly<Record<string, number>>;
  /** Known to the gateways only. */
  readonly merkleBuckets?: number;
  readonly keyspaces: readonly SettingsKeyspace[];
}

const name = z.string().min(1).max(64);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const sharedSettingsSchema = z.strictObject({
  v: z.literal(SETTINGS_VERSION),
  leaseMs: count,
  driftMarginMs: count,
  regions: z.array(name).max(SETTINGS_REGIONS_MAX),
  weights: z.record(name, count),
  merkleBuckets: count.optional(),
  keyspaces: z.array(z.strictObject({
    name,
    partitions: count,
    onSplit: z.enum(['fence', 'diverge']),
    nodes: z.array(z.array(name).max(SETTINGS_REGIONS_MAX)).max(SETTINGS_PARTITIONS_MAX),
    sync: z.array(name).max(SETTINGS_REGIONS_MAX),
    ringSlots: count.optional(),
    resolver: z.string().max(128).optional(),
    writes: z.string().max(32).optional(),
  })).max(SETTINGS_KEYSPACES_MAX),
});

/** Sorted and stable: keyspaces by name, weights by voter, sync replicas as a set. */
export function canonicalSettings(s: SharedSettings): SharedSettings {
  const weights: Record<string, number> = {};
  for (const k of Object.keys(s.weights).sort()) weights[k] = s.weights[k]!;
  const keyspaces = [...s.keyspaces].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((k) => {
    const out: { -readonly [K in keyof SettingsKeyspace]: SettingsKeyspace[K] } = {
      name: k.name, partitions: k.partitions, onSplit: k.onSplit,
      nodes: k.nodes.map((list) => [...list]), sync: [...new Set(k.sync)].sort(),
    };
    if (k.ringSlots !== undefined) out.ringSlots = k.ringSlots;
    if (k.resolver !== undefined) out.resolver = k.resolver;
    if (k.writes !== undefined) out.writes = k.writes;
    return out;
  });
  const out: { -readonly [K in keyof SharedSettings]: SharedSettings[K] } = {
    v: SETTINGS_VERSION, leaseMs: s.leaseMs, driftMarginMs: s.driftMarginMs, regions: [...s.regions], weights, keyspaces,
  };
  if (s.merkleBuckets !== undefined) out.merkleBuckets = s.merkleBuckets;
  return out;
}

/** The subset the witness knows and votes on (no ring slots, Merkle buckets, resolvers, write modes). */
export function voterSettings(s: SharedSettings): SharedSettings {
  return canonicalSettings({
    v: SETTINGS_VERSION, leaseMs: s.leaseMs, driftMarginMs: s.driftMarginMs, regions: s.regions, weights: s.weights,
    keyspaces: s.keyspaces.map((k) => ({ name: k.name, partitions: k.partitions, onSplit: k.onSplit, nodes: k.nodes, sync: k.sync })),
  });
}

/** SHA-256 (hex) of the canonical form. */
export function settingsDigest(s: SharedSettings): string {
  return createHash('sha256').update(JSON.stringify(canonicalSettings(s))).digest('hex');
}

/** The settings of a region and of the witness (or of two regions) differ; `message` names the field. */
export class SettingsMismatchError extends Error {
  override readonly name = 'SettingsMismatchError';
  constructor(message: string, readonly field?: string) {
    super(message);
  }
}

export interface SettingsDiff {
  /** Path of the first differing field, e.g. `leaseMs`, `keyspaces.orders.nodes[3]`. */
  readonly field: string;
  readonly local: unknown;
  readonly remote: unknown;
}

/** The first field (in canonical order) where `local` and `remote` differ, or null when equal. */
export function diffSettings(local: SharedSettings, remote: SharedSettings): SettingsDiff | null {
  const a = canonicalSettings(local);
  const b = canonicalSettings(remote);
  for (const field of ['leaseMs', 'driftMarginMs', 'regions', 'merkleBuckets'] as const) {
    if (!same(a[field], b[field])) return { field, local: a[field], remote: b[field] };
  }
  for (const voter of union(Object.keys(a.weights), Object.keys(b.weights))) {
    if (a.weights[voter] !== b.weights[voter]) return { field: `weights.${voter}`, local: a.weights[voter], remote: b.weights[voter] };
  }
  const ka = new Map(a.keyspaces.map((k) => [k.name, k]));
  const kb = new Map(b.keyspaces.map((k) => [k.name, k]));
  for (const ks of union([...ka.keys()], [...kb.keys()])) {
    const x = ka.get(ks);
    const y = kb.get(ks);
    if (!x || !y) return { field: `keyspaces.${ks}`, local: x ? 'present' : 'absent', remote: y ? 'present' : 'absent' };
    const d = diffKeyspace(x, y);
    if (d) return { ...d, field: `keyspaces.${ks}.${d.field}` };
  }
  return null;
}

function diffKeyspace(x: SettingsKeyspace, y: SettingsKeyspace): SettingsDiff | null {
  for (const field of ['partitions', 'onSplit', 'ringSlots', 'resolver', 'writes', 'sync'] as const) {
    if (!same(x[field], y[field])) return { field, local: x[field], remote: y[field] };
  }
  const n = Math.max(x.nodes.length, y.nodes.length);
  for (let p = 0; p < n; p++) {
    if (!same(x.nodes[p], y.nodes[p])) return { field: `nodes[${p}]`, local: x.nodes[p], remote: y.nodes[p] };
  }
  return null;
}

/** `leaseMs: witness 3000, region east 6000` (values as JSON; absent ones as `absent`). */
export function describeDiff(d: SettingsDiff, localLabel: string, remoteLabel: string): string {
  return `${d.field}: ${localLabel} ${show(d.local)}, ${remoteLabel} ${show(d.remote)}`;
}

/** Validates untrusted settings; the problem as text, else the settings. */
export function parseSharedSettings(raw: unknown): SharedSettings | string {
  const r = sharedSettingsSchema.safeParse(raw);
  if (r.success) return r.data as SharedSettings;
  const i = r.error.issues[0];
  return `${i?.path.join('.') || '(settings)'}: ${i?.message ?? 'invalid'}`;
}

function show(v: unknown): string {
  if (v === undefined) return 'absent';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

/** What the witness's own config says (node lists default to the regions rotated, as in topology.ts). */
export function witnessSettings(c: {
  readonly cluster: { readonly regions: readonly string[] };
  readonly leaseMs: number; readonly driftMarginMs: number;
  readonly weights?: Readonly<Record<string, number>> | undefined;
  readonly keyspaces: readonly { readonly name: string; readonly partitions: number; readonly onSplit: 'fence' | 'diverge'; readonly nodes?: readonly (readonly string[])[] | undefined; readonly sync?: readonly string[] | undefined }[];
}): SharedSettings {
  const regions = c.cluster.regions;
  return canonicalSettings({
    v: SETTINGS_VERSION, leaseMs: c.leaseMs, driftMarginMs: c.driftMarginMs, regions,
    weights: voteWeights(regions, c.weights),
    keyspaces: c.keyspaces.map((k) => ({
      name: k.name, partitions: k.partitions, onSplit: k.onSplit, sync: k.sync ?? [],
      nodes: Array.from({ length: k.partitions }, (_, p) => k.nodes?.[p] ?? defaultNodeList(regions, p)),
    })),
  });
}

/** Every voter's weight: the regions and the witness, `DEFAULT_VOTE_WEIGHT` unless configured. */
export function voteWeights(regions: readonly string[], configured?: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of [...regions, WITNESS_VOTER]) out[v] = configured?.[v] ?? DEFAULT_VOTE_WEIGHT;
  return out;
}
