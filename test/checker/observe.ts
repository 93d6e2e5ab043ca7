/**
 * What the checker compares at the end of a run, read from the regions themselves: every
 * key's record straight from each region's Redis (version, tombstone, value — tombstones are
 * invisible through the API), the pending-conflict count, and the conflict journals over
 * HTTP. `settle` polls until the regions agree and nothing is pending (bounded), then the
 * checker judges whatever is there.
 */
import { Redis } from 'ioredis';
import { signRequest } from '../../witness/auth.js';
import type { FinalRecord, GrantRecord, JournalEntry } from './history.js';
import type { GatewayConfig } from '../../gateway/config.js';
import { partitionOfMaps } from '../../gateway/gateway.js';
import { PartitionMap } from '../../gateway/partition-map.js';
import { StoreKeys } from '../../gateway/store/keys.js';

export interface RegionStoreAccess {
  readonly region: string;
  /** Gateway base URL reachable from the test process. */
  readonly url: string;
  readonly redisHost: string;
  readonly redisPort: number;
  /** The gateway's `redis.keyPrefix`. */
  readonly prefix: string;
  /** The partition of a key (the gateway's partition maps: the hash tag of its record, gateway/store/keys.ts). */
  readonly partitionOf: (keyspace: string, key: string) => number;
}

/** `partitionOf` of a gateway config: its keyspaces' partition maps. */
export function partitionOfConfig(config: GatewayConfig): (keyspace: string, key: string) => number {
  return partitionOfMaps(new Map(config.keyspaces.map((ks) => [ks.name, new PartitionMap(ks, config.cluster.regions, config.merkle.buckets)])));
}

export type Finals = Map<string, Map<string, FinalRecord | null>>;

export const JOURNAL_PAGES_MAX = 20;

function client(r: RegionStoreAccess): Redis {
  const c = new Redis({ host: r.redisHost, port: r.redisPort, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false,
    retryStrategy: () => null, commandTimeout: 2000, connectTimeout: 2000 });
  c.on('error', () => {});
  return c;
}

/** Every region's record for each `keyspace/key`. */
export async function readFinals(regions: readonly RegionStoreAccess[], keys: readonly string[]): Promise<Finals> {
  const out: Finals = new Map();
  for (const r of regions) {
    const c = client(r);
    try {
      await c.connect();
      const m = new Map<string, FinalRecord | null>();
      for (const k of keys) {
        const i = k.indexOf('/');
        const keys = new StoreKeys(r.prefix, r.partitionOf);
        const [v, vv, t] = await c.hmgetBuffer(keys.record(k.slice(0, i), k.slice(i + 1)), 'v', 'vv', 't');
        m.set(k, vv ? { version: vv.toString(), value: v?.toString() ?? '', tombstone: t?.toString() === '1' } : null);
      }
      out.set(r.region, m);
    } finally {
      c.disconnect();
    }
  }
  return out;
}

export async function pendingConflicts(r: RegionStoreAccess): Promise<number> {
  const c = client(r);
  try {
    await c.connect();
    return await c.scard(`${r.prefix}pendidx`);
  } finally {
    c.disconnect();
  }
}

/** The conflict journal of every region (paged, bounded). */
export async function readJournals(regions: readonly RegionStoreAccess[]): Promise<JournalEntry[]> {
  const out: JournalEntry[] = [];
  for (const r of regions) {
    let since = '';
    for (let page = 0; page < JOURNAL_PAGES_MAX; page++) {
      const res = await fetch(`${r.url}/v1/conflicts?limit=1000${since ? `&since=${since}` : ''}`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`${r.region} /v1/conflicts answered ${res.status}`);
      const body = (await res.json()) as { conflicts: Record<string, string>[]; next: string | null };
      for (const e of body.conflicts) {
        out.push({ keyspace: e.keyspace ?? '', key: e.key ?? '', type: e.type ?? '', winner: e.winner ?? '',
          currentVersion: e.currentVersion ?? '', incomingVersion: e.incomingVersion ?? '', region: r.region,
          currentEpoch: e.currentEpoch, incomingEpoch: e.incomingEpoch,
          currentValue: journalText(e.currentValue), incomingValue: journalText(e.incomingValue),
          currentTombstone: e.currentTombstone === undefined ? undefined : e.currentTombstone === '1',
          incomingTombstone: e.incomingTombstone === undefined ? undefined : e.incomingTombstone === '1' });
      }
      if (body.conflicts.length < 1000 || !body.next || body.next === since) break;
      since = body.next;
    }
  }
  return out;
}

/** A journal side's value (base64 on the API) as the workload's UTF-8 text. */
function journalText(base64: string | undefined): string | undefined {
  return base64 === undefined ? undefined : Buffer.from(base64, 'base64').toString('utf8');
}

function agree(finals: Finals, keys: readonly string[]): string | undefined {
  const regions = [...finals.keys()];
  for (const k of keys) {
    const recs = regions.map((r) => finals.get(r)?.get(k) ?? null);
    const a = recs[0] ?? null;
    for (const b of recs) {
      const same = a === null || b === null ? a === b : a.version === b.version && a.tombstone === b.tombstone && a.value === b.value;
      if (!same) return `${k}: ${regions.map((r, i) => `${r}=${recs[i]?.version ?? 'absent'}`).join(' ')}`;
    }
  }
  return undefined;
}

export interface Settled {
  readonly finals: Finals;
  readonly journal: JournalEntry[];
  readonly settledMs: number;
  /** Why it did not settle in time (the checker then reports the differences). */
  readonly unsettled?: string;
}

/** Polls until every region holds the same records and no conflict is pending, or `timeoutMs`. */
export async function settle(regions: readonly RegionStoreAccess[], keys: readonly string[], timeoutMs: number, stepMs = 250): Promise<Settled> {
  const t0 = Date.now();
  let why = 'not read yet';
  let finals: Finals = new Map();
  while (Date.now() - t0 < timeoutMs) {
    try {
      finals = await readFinals(regions, keys);
      const pending = await Promise.all(regions.map(pendingConflicts));
      const diff = agree(finals, keys);
      why = diff ?? (pending.some((n) => n > 0) ? `pending conflicts ${regions.map((r, i) => `${r.region}=${pending[i]}`).join(' ')}` : '');
      if (why === '') return { finals, journal: await readJournals(regions), settledMs: Date.now() - t0 };
    } catch (err) {
      why = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  const journal = await readJournals(regions).catch(() => []);
  return { finals, journal, settledMs: Date.now() - t0, unsettled: `${why}\n${await linkDiagnostics(regions)}` };
}

/** What each region says about its links and conflicts: printed when the regions do not settle. */
async function linkDiagnostics(regions: readonly RegionStoreAccess[]): Promise<string> {
  const lines: string[] = [];
  for (const r of regions) {
    try {
      const status = await (await fetch(`${r.url}/v1/status`, { signal: AbortSignal.timeout(2000) })).json() as {
        peers?: { region: string; state: string; linkState: string; lagEntries: number; ackedSeq: number | null; inflightBatches: number; needsRepair: boolean; lastCloseReason: string | null }[];
        conflicts?: unknown; ownership?: unknown;
      };
      for (const p of status.peers ?? []) {
        lines.push(`  ${r.region} -> ${p.region}: ${p.state}/${p.linkState} lag ${p.lagEntries} acked ${p.ackedSeq} inflight ${p.inflightBatches} repair ${p.needsRepair} last close: ${p.lastCloseReason}`);
      }
      lines.push(`  ${r.region}: conflicts ${JSON.stringify(status.conflicts)} ownership ${JSON.stringify(status.ownership).slice(0, 300)}`);
    } catch (err) {
      lines.push(`  ${r.region}: status unavailable (${(err as Error).message})`);
    }
  }
  return lines.join('\n');
}

/** The witness's decision log (`GET /v1/decisions`, newest last), as grants for the split-brain rule. */
export async function readGrants(witnessUrl: string, clusterSecret: string): Promise<GrantRecord[]> {
  const headers = signRequest(clusterSecret, 'GET', '/v1/decisions', '', Date.now());
  const res = await fetch(`${witnessUrl}/v1/decisions`, { headers, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`witness /v1/decisions answered ${res.status}`);
  const body = (await res.json()) as { decisions: GrantRecord[] };
  return body.decisions.map(({ atMs, keyspace, partition, fromOwner, toOwner, epoch }) => ({ atMs, keyspace, partition, fromOwner, toOwner, epoch }));
}
