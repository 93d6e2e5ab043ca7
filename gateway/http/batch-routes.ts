/**
 * Batch reads and listing (docs/README "API"): local reads, like GET.
 *
 * POST /v1/kv/:keyspace/_mget { "keys": [...] } — at most MGET_KEYS_MAX keys, answered in
 *      the order asked; the values' total at most MGET_BYTES_MAX (over it: 413, ask for fewer).
 * GET  /v1/kv/:keyspace?prefix=&cursor=&limit= — the live keys of a keyspace, a page at a
 *      time. A page walks (partition, bucket) in order: every key lives in exactly one Merkle
 *      bucket of its partition and each bucket is read whole in one command, so a key that is
 *      live for the whole listing is returned exactly once; one written or deleted meanwhile
 *      may or may not be. Pages end on a bucket boundary (a page may hold up to one bucket
 *      more than `limit`); each call reads at most LIST_BUCKETS_PER_CALL buckets, so a page
 *      may also be empty with a `next` cursor. The work is proportional to the keyspace's
 *      size, not to the keys matching `prefix`. Keys come in bucket order, not sorted.
 */
import { Hono, type Context } from 'hono';
import type { GatewayContext } from './context.js';
import { validateKey } from './kv-routes.js';
import { answerSession, awaitSession } from './session.js';
import { readBody } from './body.js';
import { MGET_KEYS_MAX, MgetBody, parseWith } from './api-schema.js';

export { MGET_KEYS_MAX };
import { BadRequestError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import type { KeyspaceConfig } from '../config.js';
import { isReadable, type StoredRecord } from '../store/index.js';

export const MGET_BODY_BYTES_MAX = 1024 * 1024;
export const MGET_BYTES_MAX = 16 * 1024 * 1024;
export const LIST_LIMIT_MAX = 1000;
export const LIST_LIMIT_DEFAULT = 100;
export const LIST_BUCKETS_PER_CALL = 512;
/** Bucket members one listing call reads at most (a bucket larger than this is read alone). */
export const LIST_MEMBERS_PER_CALL = 20_000;
/** Buckets read per round trip while listing (a page stops at `limit` without reading much past it). */
export const LIST_BUCKETS_PER_READ = 64;
const PREFIX_BYTES_MAX = 1024;
const CURSOR = /^(\d{1,5})\.(\d{1,5})$/;

/** Content types whose values are returned as text (`value`); others as base64 (`valueBase64`). */
function isText(contentType: string): boolean {
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return t.startsWith('text/') || t === 'application/json' || t.endsWith('+json');
}

export function batchRoutes(ctx: GatewayContext): Hono {
  const app = new Hono();

  app.post('/:keyspace/_mget', async (c) => {
    const ks = keyspaceOf(ctx, c);
    const keys = parseKeys(await readBody(c, MGET_BODY_BYTES_MAX), ctx.config.limits.keyBytesMax);
    await awaitSession(ctx, c); // session tokens (session.ts): wait until this region caught up
    // the values' sizes first: a batch over the bound is refused before its values are read
    const sizes = await ctx.store.valueSizes(ks.name, keys);
    if (sizes.reduce((a, b) => a + b, 0) > MGET_BYTES_MAX) throw tooLarge();
    const records = await ctx.store.getMany(ks.name, keys);
    await answerSession(ctx, c);
    let bytes = 0;
    const map = ctx.maps.get(ks.name)!;
    const results = keys.map((key, i) => {
      const rec = records[i];
      if (!isReadable(rec, ctx.nowMs())) return { key, found: false };
      bytes += rec.value.byteLength;
      if (bytes > MGET_BYTES_MAX) throw tooLarge(); // grew since the sizes were read
      return { key, found: true, version: rec.version, contentType: rec.contentType, partition: map.partitionName(rec.partition), ...valueOf(rec) };
    });
    c.header('x-geogate-region', ctx.config.region);
    return c.json({ keyspace: ks.name, results });
  });

  app.get('/:keyspace', async (c) => {
    const ks = keyspaceOf(ctx, c);
    const q = c.req.query();
    const limit = q.limit === undefined ? LIST_LIMIT_DEFAULT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) throw new BadRequestError(`limit must be an integer in [1, ${LIST_LIMIT_MAX}]`);
    const prefix = q.prefix ?? '';
    if (Buffer.byteLength(prefix) > PREFIX_BYTES_MAX) throw new BadRequestError(`prefix over ${PREFIX_BYTES_MAX} bytes`);
    let [partition, bucket] = parseCursor(q.cursor, ks, ctx.config.merkle.buckets);
    await awaitSession(ctx, c); // session tokens (session.ts): wait until this region caught up
    const keys: string[] = [];
    // work bound: store commands of this call (a partition's bucket list counts one, a bucket one)
    let budget = LIST_BUCKETS_PER_CALL;
    // and members read (a bucket's size is not bounded by anything but the keyspace's size)
    let membersLeft = LIST_MEMBERS_PER_CALL;
    while (partition < ks.partitions && keys.length < limit && budget > 0 && membersLeft > 0) {
      budget--;
      const ahead = (await ctx.store.bucketsInUse(ks.name, partition)).filter((b) => b >= bucket);
      const chunk = ahead.slice(0, Math.min(budget, LIST_BUCKETS_PER_READ));
      const { lists, members } = await ctx.store.liveKeysOfBuckets(ks.name, partition, chunk, membersLeft);
      membersLeft -= Math.max(members, lists.length);
      let read = 0;
      while (read < lists.length && keys.length < limit) {
        for (const key of lists[read]!) if (key.startsWith(prefix)) keys.push(key);
        read++;
      }
      budget -= read;
      if (read === ahead.length) {
        partition++; // every bucket of this partition from `bucket` on is read
        bucket = 0;
      } else {
        bucket = (chunk[read - 1] ?? bucket - 1) + 1;
      }
    }
    const done = partition >= ks.partitions;
    await answerSession(ctx, c);
    c.header('x-geogate-region', ctx.config.region);
    return c.json({ keyspace: ks.name, keys, next: done ? null : `${partition}.${bucket}` });
  });

  return app;
}

function tooLarge(): PayloadTooLargeError {
  return new PayloadTooLargeError(`the values of these keys are over ${MGET_BYTES_MAX} bytes together: ask for fewer keys`);
}

function keyspaceOf(ctx: GatewayContext, c: Context): KeyspaceConfig {
  const name = c.req.param('keyspace') ?? '';
  const ks = ctx.keyspaces.get(name);
  if (!ks) throw new NotFoundError(`unknown keyspace "${name}"`, 'unknown_keyspace');
  return ks;
}

function parseKeys(body: Uint8Array, keyBytesMax: number): string[] {
  let parsed: unknown;
  try { parsed = JSON.parse(Buffer.from(body).toString('utf8')); } catch { throw new BadRequestError('body must be JSON: { "keys": ["…"] }'); }
  const many = (parsed as { keys?: unknown } | null)?.keys;
  if (Array.isArray(many) && many.length > MGET_KEYS_MAX) throw new BadRequestError(`at most ${MGET_KEYS_MAX} keys per _mget, got ${many.length}`, 'too_many_keys');
  const { keys } = parseWith(MgetBody, parsed);
  for (const k of keys) validateKey(k, keyBytesMax);
  return keys;
}

function parseCursor(text: string | undefined, ks: KeyspaceConfig, buckets: number): [number, number] {
  if (text === undefined || text === '') return [0, 0];
  const m = CURSOR.exec(text);
  const p = Number(m?.[1]);
  const b = Number(m?.[2]);
  if (!m || p >= ks.partitions || b > buckets) throw new BadRequestError(`cursor "${text}" is not one this keyspace gave (use the "next" of the previous page)`);
  return [p, b];
}

function valueOf(rec: StoredRecord): { value: string } | { valueBase64: string } {
  const buf = Buffer.from(rec.value.buffer, rec.value.byteOffset, rec.value.byteLength);
  return isText(rec.contentType) ? { value: buf.toString('utf8') } : { valueBase64: buf.toString('base64') };
}
