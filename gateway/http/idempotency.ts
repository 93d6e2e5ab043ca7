/**
 * The Idempotency-Key header of a write: validated here, and the request's fingerprint (what
 * a retry must repeat exactly) computed once. The outcome itself is remembered by the write
 * script (gateway/store/lua/includes/idempotency.lua), atomically with the write.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { Gauge, type Registry } from 'prom-client';
import { BadRequestError } from '../errors.js';
import type { IdempotencyRequest } from '../store/index.js';

export const IDEMPOTENCY_KEY_BYTES_MAX = 128;

export interface IdempotencyLimits {
  readonly ttlMs: number;
  readonly entriesMax: number;
}

/** What a retry has to repeat: method, route, operation, the conditional headers and the body. */
export interface RequestShape {
  readonly method: string;
  readonly keyspace: string;
  readonly key: string;
  readonly op: string;
  readonly contentType: string;
  readonly ifMatch: string;
  readonly ifNoneMatch: string;
  readonly body: Uint8Array;
}

/** A 1-128 byte printable ASCII key; undefined without the header. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (header.length === 0 || header.length > IDEMPOTENCY_KEY_BYTES_MAX || !/^[\x21-\x7e]+$/.test(header)) {
    throw new BadRequestError(`Idempotency-Key must be 1-${IDEMPOTENCY_KEY_BYTES_MAX} printable ASCII characters without spaces`, 'bad_idempotency_key');
  }
  return header;
}

/** sha256 over the request's shape, each part length-prefixed (no two shapes give the same input). */
export function fingerprint(shape: RequestShape): string {
  const h = createHash('sha256');
  for (const part of [shape.method, shape.keyspace, shape.key, shape.op, shape.contentType, shape.ifMatch, shape.ifNoneMatch]) {
    const bytes = Buffer.from(part, 'utf8');
    h.update(`${bytes.byteLength}:`).update(bytes);
  }
  h.update(`${shape.body.byteLength}:`).update(shape.body);
  return h.digest('hex');
}

export function idempotencyOf(c: Context, limits: IdempotencyLimits, shape: RequestShape): IdempotencyRequest | undefined {
  const key = parseIdempotencyKey(c.req.header('idempotency-key'));
  if (key === undefined) return undefined;
  return { key, fingerprint: fingerprint(shape), ttlMs: limits.ttlMs, entriesMax: limits.entriesMax };
}

/**
 * `geogate_idempotency_unremembered`: outcomes of peers' keyed writes this region applied
 * without remembering them (at `idempotency.entriesMax`), as the apply script counts them in
 * Redis (`<prefix>idemunremembered`, applyChanges-5.lua): read at each scrape; the last value
 * read stays when Redis does not answer within UNREMEMBERED_READ_MS.
 */
/** A scrape waits at most this for the count (a Redis that does not answer never holds /metrics up). */
export const UNREMEMBERED_READ_MS = 250;

export function registerIdempotencyMetrics(registry: Registry, redis: { get(key: string): Promise<string | null> }, keyPrefix: string): void {
  if (registry.getSingleMetric('geogate_idempotency_unremembered')) return;
  let last = 0;
  new Gauge({
    name: 'geogate_idempotency_unremembered', registers: [registry],
    help: 'Outcomes of peers\' writes with an Idempotency-Key applied here without being remembered (this region at idempotency.entriesMax); a retry of them here is refused while the cap holds, a new write after',
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), UNREMEMBERED_READ_MS); });
      try { last = Number(await Promise.race([redis.get(`${keyPrefix}idemunremembered`), late])) || 0; } catch { /* keep the last value */ } finally { clearTimeout(timer); }
      this.set(last);
    },
  });
}
