/**
 * The Idempotency-Key header of a write: validated here, and the request's fingerprint (what
 * a retry must repeat exactly) computed once. The outcome itself is remembered by the write
 * script (gateway/store/lua/includes/idempotency.lua), atomically with the write.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
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
