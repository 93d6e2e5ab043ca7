/**
 * The client workload every scenario runs: a few clients per region, each one operation at a
 * time against its local gateway, on a small set of keys of a `fence` and a `diverge`
 * keyspace (contention on purpose): unique-value writes, CAS increments (GET, then PUT with
 * If-Match), deletes and reads. Bounded by duration and operation count; every request has
 * a timeout. A 307 is followed once, to the region named in `Location`, when `canReach` says
 * the client's region can reach it. Everything goes into a History.
 */
import { History, type Op, type OpStatus } from './history.js';
import { seededRandom } from '../../infra/clock.js';

export interface WorkloadTarget {
  readonly region: string;
  /** Base URL the workload uses for this region (host-reachable). */
  readonly url: string;
  /** Base URL the gateways put in `Location` for this region (its `publicUrl`). */
  readonly publicUrl: string;
  /**
   * Host-reachable URLs of every gateway instance of the region, when it runs several: client
   * `c` of a region (and a redirect it follows into another region) uses instance
   * `c % urls.length`, so the clients spread over the instances. Absent: `url` for all.
   */
  readonly urls?: readonly string[];
}

export interface WorkloadOptions {
  readonly targets: readonly WorkloadTarget[];
  readonly fenceKeyspace: string;
  readonly divergeKeyspace: string;
  /** Keys are `${keyPrefix}-${i}`; use one prefix per scenario. */
  readonly keyPrefix: string;
  readonly keysPerKeyspace?: number;
  readonly clientsPerRegion?: number;
  /** Before each client's name (several workloads sharing one history: names stay unique). */
  readonly clientPrefix?: string;
  /** Close the history's open operations when the run ends (default true; false when several workloads share it: close it once after all). */
  readonly closeOpenAtEnd?: boolean;
  readonly durationMs: number;
  readonly opsMax?: number;
  readonly requestTimeoutMs?: number;
  /** Pause between a client's operations. */
  readonly thinkMs?: number;
  readonly seed?: number;
  /** Whether a client of region `from` can reach region `to`'s gateway now. Default: always. */
  readonly canReach?: (from: string, to: string) => boolean;
  readonly history?: History;
}

export const DEFAULT_KEYS_PER_KEYSPACE = 4;
export const DEFAULT_CLIENTS_PER_REGION = 2;
export const DEFAULT_OPS_MAX = 20_000;
/** Above the gateway's Redis command timeout (2 s) and sync timeout (1 s): see the checker's note on unknown outcomes. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 4000;
export const DEFAULT_THINK_MS = 15;
/** 503 codes answered before the store is touched: the write certainly did not happen. */
export const DEFINITE_503_CODES: ReadonlySet<string> = new Set(['no_write_authority', 'fenced', 'overloaded', 'owner_unknown', 'bootstrapping', 'store_reset']);

/** Response header that would carry the epoch a write was acknowledged under. */
export const EPOCH_HEADER = 'x-geogate-epoch';
/** The write's HLC stamp, which lww compares (`wallMs.logical`). */
export const HLC_HEADER = 'x-geogate-hlc';

/** Seeded PRNG, so a run's choice of operations replays. */
export const prng = seededRandom;

interface Answer {
  status: OpStatus;
  region: string;
  version?: string;
  body?: string;
  partition?: string;
  detail: string;
  httpStatus?: number;
  epoch?: number;
  hlc?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Workload {
  readonly history: History;
  private readonly byRegion: Map<string, WorkloadTarget>;
  private readonly opsMax: number;
  /** Client name → its index in its region (which instance of a region of several it uses). */
  private readonly instanceOf = new Map<string, number>();
  private stopped = false;

  constructor(private readonly o: WorkloadOptions) {
    this.history = o.history ?? new History();
    this.byRegion = new Map(o.targets.map((t) => [t.region, t]));
    this.opsMax = o.opsMax ?? DEFAULT_OPS_MAX;
  }

  keys(): { keyspace: string; key: string }[] {
    const n = this.o.keysPerKeyspace ?? DEFAULT_KEYS_PER_KEYSPACE;
    return [this.o.fenceKeyspace, this.o.divergeKeyspace].flatMap((keyspace) =>
      Array.from({ length: n }, (_, i) => ({ keyspace, key: `${this.o.keyPrefix}-${i}` })));
  }

  stop(): void {
    this.stopped = true;
  }

  /** Runs every client until `durationMs` passed, `opsMax` ops were recorded or `stop()`. */
  async run(): Promise<History> {
    const deadline = Date.now() + this.o.durationMs;
    const clients: Promise<void>[] = [];
    const perRegion = this.o.clientsPerRegion ?? DEFAULT_CLIENTS_PER_REGION;
    let n = 0;
    for (const t of this.o.targets) {
      for (let c = 0; c < perRegion; c++) {
        const name = `${this.o.clientPrefix ?? ''}${t.region}-${c}`;
        this.instanceOf.set(name, c);
        clients.push(this.client(name, t.region, deadline, prng((this.o.seed ?? 1) * 1000 + n++)));
      }
    }
    await Promise.all(clients);
    if (this.o.closeOpenAtEnd !== false) this.history.closeOpen();
    return this.history;
  }

  private async client(name: string, region: string, deadline: number, rnd: () => number): Promise<void> {
    const keys = this.keys();
    let seq = 0;
    while (!this.stopped && Date.now() < deadline && this.history.ops.length < this.opsMax) {
      const { keyspace, key } = keys[Math.floor(rnd() * keys.length)]!;
      const dice = rnd();
      seq++;
      if (dice < 0.3) await this.write(name, region, keyspace, key, `w:${name}:${seq}`);
      else if (dice < 0.5) await this.cas(name, region, keyspace, key, seq);
      else if (dice < 0.6) await this.del(name, region, keyspace, key);
      else await this.read(name, region, keyspace, key);
      await sleep(this.o.thinkMs ?? DEFAULT_THINK_MS);
    }
  }

  async write(client: string, region: string, keyspace: string, key: string, value: string): Promise<Op> {
    const op = this.history.invoke({ client, region, kind: 'write', keyspace, key, value });
    this.finish(op, await this.request(client, region, 'PUT', keyspace, key, value));
    return op;
  }

  async read(client: string, region: string, keyspace: string, key: string): Promise<Op> {
    const op = this.history.invoke({ client, region, kind: 'read', keyspace, key });
    const a = await this.request(client, region, 'GET', keyspace, key, undefined, undefined, false);
    if (a.httpStatus === 404) this.history.complete(op, 'ok', { ackRegion: a.region, version: '', readValue: null, partition: a.partition, detail: '404' });
    else this.finish(op, a, a.status === 'ok' ? { readValue: a.body ?? '' } : {});
    return op;
  }

  /** CAS increment: read the counter, write n+1 with If-Match of the version read. */
  async cas(client: string, region: string, keyspace: string, key: string, seq: number): Promise<Op | undefined> {
    const r = await this.read(client, region, keyspace, key);
    if (r.status !== 'ok' || !r.version) return undefined;
    const n = /^cas:(\d+):/.exec(r.readValue ?? '')?.[1];
    const value = `cas:${Number(n ?? 0) + 1}:${client}:${seq}`;
    const op = this.history.invoke({ client, region, kind: 'cas', keyspace, key, value, ifMatch: r.version });
    this.finish(op, await this.request(client, region, 'PUT', keyspace, key, value, r.version));
    return op;
  }

  async del(client: string, region: string, keyspace: string, key: string): Promise<Op> {
    const op = this.history.invoke({ client, region, kind: 'delete', keyspace, key });
    const a = await this.request(client, region, 'DELETE', keyspace, key);
    // 404: nothing to delete, no tombstone written
    this.finish(op, a.httpStatus === 404 ? { ...a, status: 'fail' } : a);
    return op;
  }

  private finish(op: Op, a: Answer, extra: Partial<Op> = {}): void {
    this.history.complete(op, a.status, {
      ackRegion: a.region, partition: a.partition, detail: a.detail,
      ...(a.status === 'ok' ? { version: a.version ?? '' } : {}), ...(a.status === 'ok' && a.epoch !== undefined ? { epoch: a.epoch } : {}),
      ...(a.status === 'ok' && a.hlc !== undefined ? { hlc: a.hlc } : {}), ...extra,
    });
  }

  private async request(client: string, region: string, method: string, keyspace: string, key: string, body?: string, ifMatch?: string, follow = true): Promise<Answer> {
    const first = await this.once(client, region, method, keyspace, key, body, ifMatch);
    if (first.httpStatus !== 307 || !follow) return first;
    const to = this.regionOfLocation(first.body ?? '');
    if (!to || to === region) return { ...first, status: 'fail', detail: `307 to ${first.body}` };
    if (!(this.o.canReach?.(region, to) ?? true)) return { ...first, status: 'fail', detail: `307 to unreachable ${to}` };
    const second = await this.once(client, to, method, keyspace, key, body, ifMatch);
    return second.httpStatus === 307 ? { ...second, status: 'fail', detail: `307 twice (${region}->${to}->${second.body})` } : second;
  }

  private regionOfLocation(location: string): string | undefined {
    for (const t of this.o.targets) if (location.startsWith(`${t.publicUrl}/`)) return t.region;
    return undefined;
  }

  /** The base URL client `client` uses for `region`: its instance of the region's several, or the one `url`. */
  private baseUrl(client: string, region: string): string {
    const target = this.byRegion.get(region);
    if (!target) throw new Error(`no target for region ${region}`);
    const urls = target.urls;
    return urls && urls.length > 0 ? urls[(this.instanceOf.get(client) ?? 0) % urls.length]! : target.url;
  }

  private async once(client: string, region: string, method: string, keyspace: string, key: string, body?: string, ifMatch?: string): Promise<Answer> {
    const origin = this.baseUrl(client, region);
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (ifMatch) headers['if-match'] = `"${ifMatch}"`;
    try {
      const res = await fetch(`${origin}/v1/kv/${keyspace}/${encodeURIComponent(key)}`, {
        method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      const partition = res.headers.get('x-geogate-partition') ?? undefined;
      const version = res.headers.get('etag')?.replace(/^(W\/)?"|"$/g, '');
      // the write's epoch, if a gateway ever returns it (today's API does not; the checker then bounds it from the witness's grants)
      const epochText = res.headers.get(EPOCH_HEADER);
      const epoch = epochText !== null && /^\d+$/.test(epochText) ? Number(epochText) : undefined;
      const hlc = res.headers.get(HLC_HEADER) ?? undefined;
      const base = { region, partition, httpStatus: res.status, detail: String(res.status), ...(epoch === undefined ? {} : { epoch }), ...(hlc === undefined ? {} : { hlc }) };
      if (res.status >= 200 && res.status < 300) return { ...base, status: 'ok', version, body: text };
      if (res.status === 307) return { ...base, status: 'fail', body: res.headers.get('location') ?? '' };
      if (res.status === 503) {
        const code = errorCode(text);
        return { ...base, status: DEFINITE_503_CODES.has(code) ? 'fail' : 'unknown', detail: `503 ${code}` };
      }
      if (res.status >= 400 && res.status < 500) return { ...base, status: 'fail', detail: `${res.status} ${errorCode(text)}` };
      return { ...base, status: 'unknown', detail: `${res.status} ${errorCode(text)}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      // refused: the request never reached a gateway
      if (e.cause?.code === 'ECONNREFUSED' || e.cause?.code === 'EHOSTUNREACH') return { status: 'fail', region, detail: e.cause.code };
      return { status: 'unknown', region, detail: e.name === 'TimeoutError' ? 'timeout' : `${e.message}${e.cause?.code ? ` ${e.cause.code}` : ''}` };
    }
  }
}

function errorCode(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '');
  } catch {
    return '';
  }
}

/**
 * Replication lag as a client sees it: write a unique value at `from`, poll `to` until it
 * shows it. Returns one sample in ms per write (bounded by `timeoutMs` each; a timeout is
 * recorded as Infinity).
 */
export async function measureLag(opts: { from: WorkloadTarget; to: WorkloadTarget; keyspace: string; keyPrefix: string; samples: number; timeoutMs: number; pollMs?: number }): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < opts.samples; i++) {
    const key = `${opts.keyPrefix}-lag-${i % 8}`;
    const value = `lag:${i}:${Date.now()}`;
    const t0 = performance.now();
    const put = await fetch(`${opts.from.url}/v1/kv/${opts.keyspace}/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(opts.timeoutMs) });
    await put.text();
    if (!put.ok) throw new Error(`lag probe write at ${opts.from.region} answered ${put.status}`);
    let seen = Infinity;
    while (performance.now() - t0 < opts.timeoutMs) {
      const res = await fetch(`${opts.to.url}/v1/kv/${opts.keyspace}/${key}`, { signal: AbortSignal.timeout(opts.timeoutMs) });
      if ((await res.text()) === value) {
        seen = performance.now() - t0;
        break;
      }
      await sleep(opts.pollMs ?? 2);
    }
    out.push(seen);
  }
  return out;
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
