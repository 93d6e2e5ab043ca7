/**
 * geogate/client: a typed client for the gateway's HTTP API, on Node's own fetch (no other
 * dependency). A list of region URLs, the preferred one first; follows 307 to the region that
 * takes the write; honours 503 Retry-After; fails over to the next region on a timeout or a
 * connection error; every write carries an Idempotency-Key, the same on every attempt, so a
 * retried write is applied once; every answer's session token is merged and sent again, so
 * a read at any region sees this client's writes (read-your-writes). Everything is bounded: attempts, redirects, the wait a
 * Retry-After may ask for, each request's time and the call's total time. `onEvent` sees
 * every attempt, redirect, wait and failover.
 */
import { randomUUID } from 'node:crypto';
import { SESSION_HEADER, formatSessionToken, mergeSessionTokens, parseSessionToken, type SessionEntry } from './session.js';

export { SESSION_HEADER, SESSION_TOKEN_BYTES_MAX, formatSessionToken, mergeSessionTokens, parseSessionToken, type SessionEntry } from './session.js';

export const DEFAULT_ATTEMPTS_MAX = 6;
export const DEFAULT_REDIRECTS_MAX = 3;
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;
export const DEFAULT_TOTAL_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRY_AFTER_MS_MAX = 5000;

export type ClientEvent =
  | { type: 'attempt'; method: string; url: string; attempt: number }
  | { type: 'response'; method: string; url: string; status: number; elapsedMs: number }
  | { type: 'redirect'; from: string; to: string }
  | { type: 'retry-after'; url: string; code: string; waitMs: number }
  | { type: 'failover'; from: string; to: string; reason: string };

export interface ClientOptions {
  /** Base URLs of the regions' gateways (http://host:port), the preferred one first. */
  regions: readonly string[];
  attemptsMax?: number;
  redirectsMax?: number;
  requestTimeoutMs?: number;
  totalTimeoutMs?: number;
  /** A longer Retry-After is cut to this. */
  retryAfterMsMax?: number;
  onEvent?: (event: ClientEvent) => void;
  /** Idempotency keys for writes (default: a random UUID per call). */
  newIdempotencyKey?: () => string;
  /**
   * A session token to start from (`client.session()` of another client, e.g. in another
   * process): reads wait until the region they reach has what it names (read-your-writes).
   */
  session?: string;
}

export interface GetResult {
  value: Uint8Array;
  contentType: string;
  version: string;
  /** The region that answered. */
  region: string | undefined;
  /** The answering region is a replica for the key (single-master): it may lag. */
  stale: boolean;
  /** The version's absolute expiry, wall ms (x-geogate-expires-at); absent: it never expires. */
  expiresAtMs?: number;
}

/** One found key of `mget`. */
export interface MgetRecord {
  key: string;
  value: Uint8Array;
  contentType: string;
  version: string;
}

export interface WriteResult {
  version: string;
  created: boolean;
  /** The written version's absolute expiry, wall ms (x-geogate-expires-at); absent: it never expires. */
  expiresAtMs?: number;
  /** The gateway answered a retry with the first outcome (x-geogate-idempotent-replay). */
  replayed: boolean;
}

export interface WriteOptions {
  /** Write only if the key is at this version (If-Match); `*`: only if it exists. */
  ifVersion?: string;
  /** Write only if the key is absent (If-None-Match: *). */
  ifAbsent?: boolean;
  /** Default: a new key per call (ClientOptions.newIdempotencyKey). */
  idempotencyKey?: string;
}

/** The gateway answered with an error: `status`, its `code` and `message`. */
export class GeogateHttpError extends Error {
  override name = 'GeogateHttpError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`${status} ${code}: ${message}`);
  }
}

/** No attempt succeeded within the bounds; `last` is the last failure seen. */
export class GeogateUnavailableError extends Error {
  override name = 'GeogateUnavailableError';
  constructor(message: string, readonly last: string) {
    super(`${message} (last: ${last})`);
  }
}

interface Call {
  method: string;
  path: string;
  body?: Uint8Array | string | undefined;
  headers: Record<string, string>;
}

function positive(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`ClientOptions.${name} must be a positive integer, got ${v}`);
  return x;
}

export class GeogateClient {
  private readonly regions: readonly string[];
  private readonly attemptsMax: number;
  private readonly redirectsMax: number;
  private readonly requestTimeoutMs: number;
  private readonly totalTimeoutMs: number;
  private readonly retryAfterMsMax: number;
  private readonly onEvent: (event: ClientEvent) => void;
  private readonly newKey: () => string;
  /** What this client has seen, per region (merged from every answer's x-geogate-session). */
  private seen: SessionEntry[] = [];

  constructor(opts: ClientOptions) {
    if (opts.session !== undefined && opts.session !== '') {
      const parsed = parseSessionToken(opts.session);
      if (typeof parsed === 'string') throw new RangeError(`ClientOptions.session is not a session token: ${parsed}`);
      this.seen = parsed;
    }
    if (opts.regions.length === 0) throw new RangeError('ClientOptions.regions: at least one region URL');
    this.regions = opts.regions.map((u) => new URL(u).origin);
    this.attemptsMax = positive('attemptsMax', opts.attemptsMax, DEFAULT_ATTEMPTS_MAX);
    this.redirectsMax = opts.redirectsMax ?? DEFAULT_REDIRECTS_MAX;
    this.requestTimeoutMs = positive('requestTimeoutMs', opts.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
    this.totalTimeoutMs = positive('totalTimeoutMs', opts.totalTimeoutMs, DEFAULT_TOTAL_TIMEOUT_MS);
    this.retryAfterMsMax = opts.retryAfterMsMax ?? DEFAULT_RETRY_AFTER_MS_MAX;
    this.onEvent = opts.onEvent ?? (() => {});
    this.newKey = opts.newIdempotencyKey ?? randomUUID;
  }

  /**
   * The session token: every version this client wrote or read, as positions in the regions'
   * logs (sent on every request; '' before the first answer). Hand it to another client
   * (`new GeogateClient({ session })`) to carry read-your-writes across processes.
   */
  session(): string {
    return formatSessionToken(this.seen);
  }

  async get(keyspace: string, key: string): Promise<GetResult | undefined> {
    const res = await this.send({ method: 'GET', path: kvPath(keyspace, key), headers: {} });
    if (res.status === 404) { await res.arrayBuffer(); return undefined; }
    await ensureOk(res);
    return {
      value: new Uint8Array(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      version: unquote(res.headers.get('etag')),
      region: res.headers.get('x-geogate-region') ?? undefined,
      stale: res.headers.get('x-geogate-stale') === 'possible',
      ...(res.headers.get('x-geogate-expires-at') !== null && { expiresAtMs: Number(res.headers.get('x-geogate-expires-at')) }),
    };
  }

  /**
   * Several keys of one keyspace in one request (`POST …/_mget`, at most 100 keys), in the
   * order asked; undefined for a key absent or deleted.
   */
  async mget(keyspace: string, keys: readonly string[]): Promise<(MgetRecord | undefined)[]> {
    const res = await this.send(jsonCall('POST', `/v1/kv/${encodeURIComponent(keyspace)}/_mget`, { keys }));
    await ensureOk(res);
    const body = (await res.json()) as { results: { key: string; found: boolean; version?: string; contentType?: string; value?: string; valueBase64?: string }[] };
    return body.results.map((r) => (!r.found ? undefined : {
      key: r.key, version: r.version ?? '', contentType: r.contentType ?? 'application/octet-stream',
      value: r.value !== undefined ? new TextEncoder().encode(r.value) : new Uint8Array(Buffer.from(r.valueBase64 ?? '', 'base64')),
    }));
  }

  /** One page of a keyspace's live keys (`GET /v1/kv/:keyspace`): pass `next` back as `cursor`; null at the end. */
  async list(keyspace: string, opts: { prefix?: string; cursor?: string; limit?: number } = {}): Promise<{ keys: string[]; next: string | null }> {
    const q = new URLSearchParams();
    if (opts.prefix !== undefined) q.set('prefix', opts.prefix);
    if (opts.cursor !== undefined) q.set('cursor', opts.cursor);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    const qs = q.toString();
    const res = await this.send({ method: 'GET', path: `/v1/kv/${encodeURIComponent(keyspace)}${qs ? `?${qs}` : ''}`, headers: {} });
    await ensureOk(res);
    const body = (await res.json()) as { keys: string[]; next: string | null };
    return { keys: body.keys, next: body.next };
  }

  /**
   * Writes the value. `ttlSeconds`: the new version expires that long after the write (an
   * absolute time, every region reads the key as absent from then on); without it the version
   * never expires, also when the key had an expiry before (docs/expiry.md).
   */
  put(keyspace: string, key: string, value: Uint8Array | string, opts: WriteOptions & { contentType?: string; ttlSeconds?: number } = {}): Promise<WriteResult> {
    const headers = { 'content-type': opts.contentType ?? (typeof value === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream') };
    const ttl = opts.ttlSeconds === undefined ? '' : `?ttl=${checkTtl(opts.ttlSeconds)}`;
    return this.write({ method: 'PUT', path: kvPath(keyspace, key) + ttl, body: value, headers }, opts);
  }

  /**
   * Sets the live key's expiry to `ttlSeconds` from now, keeping its value (`POST …/expire`);
   * 0 removes the expiry. Undefined when the key is absent, deleted or expired (404).
   */
  async expire(keyspace: string, key: string, ttlSeconds: number, opts: WriteOptions = {}): Promise<WriteResult | undefined> {
    const res = await this.send(this.writeCall(jsonCall('POST', `${kvPath(keyspace, key)}/expire`, { ttlSeconds: checkTtl(ttlSeconds) }), opts));
    if (res.status === 404) { await res.arrayBuffer(); return undefined; }
    return writeResult(res);
  }

  /** Deletes the key; false when it was absent (404). */
  async delete(keyspace: string, key: string, opts: WriteOptions = {}): Promise<{ deleted: boolean; version?: string; replayed: boolean }> {
    const res = await this.send(this.writeCall({ method: 'DELETE', path: kvPath(keyspace, key), headers: {} }, opts));
    if (res.status === 404) { await res.arrayBuffer(); return { deleted: false, replayed: false }; }
    await ensureOk(res);
    return { deleted: true, version: unquote(res.headers.get('etag')), replayed: res.headers.get('x-geogate-idempotent-replay') === 'true' };
  }

  /** Adds `by` (negative subtracts) to a `counter` keyspace's key, in one script call at the gateway. */
  incr(keyspace: string, key: string, by: number, opts: WriteOptions = {}): Promise<WriteResult> {
    if (!Number.isSafeInteger(by)) throw new RangeError(`incr: by must be a safe integer, got ${by}`);
    return this.write(jsonCall('POST', `${kvPath(keyspace, key)}/incr`, { by }), opts);
  }

  add(keyspace: string, key: string, members: readonly unknown[], opts: WriteOptions = {}): Promise<WriteResult> {
    return this.write(jsonCall('POST', `${kvPath(keyspace, key)}/add`, { members }), opts);
  }

  remove(keyspace: string, key: string, members: readonly unknown[], opts: WriteOptions = {}): Promise<WriteResult> {
    return this.write(jsonCall('POST', `${kvPath(keyspace, key)}/remove`, { members }), opts);
  }

  private writeCall(call: Call, opts: WriteOptions): Call {
    const headers: Record<string, string> = { ...call.headers, 'idempotency-key': opts.idempotencyKey ?? this.newKey() };
    if (opts.ifVersion !== undefined) headers['if-match'] = opts.ifVersion === '*' ? '*' : `"${opts.ifVersion}"`;
    if (opts.ifAbsent) headers['if-none-match'] = '*';
    return { ...call, headers };
  }

  private async write(call: Call, opts: WriteOptions): Promise<WriteResult> {
    return writeResult(await this.send(this.writeCall(call, opts)));
  }

  /** The request loop: every bound is checked here. Answers the first response that is not a 307 or a 503. */
  private async send(call: Call): Promise<Response> {
    const started = performance.now();
    let region = 0;
    let url = this.regions[0] + call.path;
    let redirects = 0;
    let last = 'no attempt made';
    for (let attempt = 1; attempt <= this.attemptsMax; attempt++) {
      const remainingMs = this.totalTimeoutMs - (performance.now() - started);
      if (remainingMs <= 0) break;
      this.onEvent({ type: 'attempt', method: call.method, url, attempt });
      let res: Response;
      const headers = this.seen.length > 0 ? { ...call.headers, [SESSION_HEADER]: formatSessionToken(this.seen) } : call.headers;
      try {
        res = await fetch(url, {
          method: call.method, headers, body: call.body, redirect: 'manual',
          signal: AbortSignal.timeout(Math.min(this.requestTimeoutMs, remainingMs)),
        });
      } catch (err) {
        last = `${call.method} ${url}: ${describe(err)}`;
        region = (region + 1) % this.regions.length;
        const next = this.regions[region] + call.path;
        this.onEvent({ type: 'failover', from: url, to: next, reason: describe(err) });
        url = next;
        continue;
      }
      this.onEvent({ type: 'response', method: call.method, url, status: res.status, elapsedMs: performance.now() - started });
      this.noteSession(res.headers.get(SESSION_HEADER), res.headers.get('x-geogate-region'));
      if (res.status === 307) {
        const location = res.headers.get('location');
        await res.arrayBuffer();
        if (!location) throw new GeogateHttpError(307, 'redirect', 'a 307 without Location');
        if (++redirects > this.redirectsMax) { last = `more than ${this.redirectsMax} redirects`; break; }
        const to = new URL(location, url).toString();
        this.onEvent({ type: 'redirect', from: url, to });
        url = to;
        continue;
      }
      if (res.status === 503) {
        const code = await errorCode(res);
        last = `${call.method} ${url}: 503 ${code}`;
        const waitMs = Math.min(retryAfterMs(res.headers.get('retry-after')), this.retryAfterMsMax, Math.max(0, this.totalTimeoutMs - (performance.now() - started)));
        this.onEvent({ type: 'retry-after', url, code, waitMs });
        await new Promise((r) => setTimeout(r, waitMs));
        // then the next region: it may take the write (a moved lease) or redirect back
        region = (region + 1) % this.regions.length;
        url = this.regions[region] + call.path;
        continue;
      }
      return res;
    }
    throw new GeogateUnavailableError(`${call.method} ${call.path}: no answer within ${this.attemptsMax} attempts and ${this.totalTimeoutMs} ms`, last);
  }

  /** Merges an answer's token (per region the max); an unreadable one is ignored. */
  private noteSession(header: string | null, from: string | null): void {
    if (!header) return;
    const next = parseSessionToken(header);
    if (typeof next !== 'string') this.seen = mergeSessionTokens(this.seen, next, from ?? undefined);
  }
}

/** The same client under a shorter name. */
export { GeogateClient as Client };

function kvPath(keyspace: string, key: string): string {
  return `/v1/kv/${encodeURIComponent(keyspace)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

async function writeResult(res: Response): Promise<WriteResult> {
  await ensureOk(res);
  const body = (await res.json()) as { version: string; created: boolean };
  const expires = res.headers.get('x-geogate-expires-at');
  return {
    version: body.version, created: body.created, replayed: res.headers.get('x-geogate-idempotent-replay') === 'true',
    ...(expires !== null && { expiresAtMs: Number(expires) }),
  };
}

function checkTtl(seconds: number): number {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`ttlSeconds must be a whole number of seconds >= 0, got ${seconds}`);
  return seconds;
}

function jsonCall(method: string, path: string, body: unknown): Call {
  return { method, path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}

function unquote(etag: string | null): string {
  const m = etag ? /^(?:W\/)?"(.*)"$/.exec(etag) : null;
  return m ? m[1]! : etag ?? '';
}

function retryAfterMs(header: string | null): number {
  const s = Number(header);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 1000;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ? `${err.name}: ${cause.code}` : `${err.name}: ${err.message}`;
  }
  return String(err);
}

async function errorCode(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { code?: string } };
    return body.error?.code ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function ensureOk(res: Response): Promise<void> {
  if (res.status < 300) return;
  let code = 'unknown';
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch { /* not JSON */ }
  throw new GeogateHttpError(res.status, code, message);
}
