/**
 * The key-value API: PUT / GET / DELETE /v1/kv/:keyspace/:key. Reads are always local; a
 * write asks the write authority first, then makes one store call.
 */
import { Hono, type Context } from 'hono';
import type { GatewayContext } from './context.js';
import { readBody } from './body.js';
import { BadRequestError, FencedError, IdempotencyKeyReusedError, OperationNotSupportedError, PayloadTooLargeError, NotFoundError, PreconditionFailedError, RedirectError, UnavailableError, WriteOutcomeUnknownError } from '../errors.js';
import { idempotencyOf, registerIdempotencyMetrics } from './idempotency.js';
import { answerSession, awaitSession, sessionOf } from './session.js';
import { type Operation, addMembers, applyMergePatch, checkOperation, parseIncr, parseJsonBody, parseMembers, removeMembers } from './operations.js';
import { StoreError, StoreErrorCode, isReadable, type WriteRequest, type WriteResult } from '../store/index.js';
import { checkExpiry, parseExpireBody, parseTtlQuery } from './expiry.js';
import type { KeyspaceConfig } from '../config.js';

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
/** The body of POST …/expire is a small JSON object. */
const EXPIRE_BODY_BYTES_MAX = 1024;
const CONTENT_TYPE_BYTES_MAX = 256;

export function kvRoutes(ctx: GatewayContext): Hono {
  const app = new Hono();
  const { config } = ctx;
  // their metrics exist from the start, not from the first request
  sessionOf(ctx);
  registerIdempotencyMetrics(ctx.metrics.registry, ctx.store.redis, config.redis.keyPrefix);

  app.get('/:keyspace/:key{.+}', async (c) => {
    const { ks, key, placement } = locate(ctx, c);
    await awaitSession(ctx, c);
    const rec = await ctx.store.get(ks.name, key);
    await answerSession(ctx, c);
    setPlacementHeaders(ctx, c, ks, placement.partition);
    // an expired version is absent from its absolute expiry on, swept or not
    if (!isReadable(rec, ctx.nowMs())) throw new NotFoundError(`no key "${key}" in ${ks.name}`);
    c.header('etag', `"${rec.version}"`);
    if (rec.expiresAtMs !== undefined) c.header('x-geogate-expires-at', String(rec.expiresAtMs));
    c.header('content-type', rec.contentType || DEFAULT_CONTENT_TYPE);
    return c.body(new Uint8Array(rec.value.buffer, rec.value.byteOffset, rec.value.byteLength) as unknown as ArrayBuffer, 200);
  });

  app.put('/:keyspace/:key{.+}', async (c) => {
    const target = locate(ctx, c);
    const contentType = c.req.header('content-type') ?? DEFAULT_CONTENT_TYPE;
    if (contentType.length > CONTENT_TYPE_BYTES_MAX) throw new BadRequestError(`content-type longer than ${CONTENT_TYPE_BYTES_MAX} bytes`);
    const ttlSeconds = parseTtlQuery(c.req.query('ttl'), config.expiry.ttlSecondsMax);
    if (ttlSeconds > 0) checkExpiry(target.ks);
    const value = await readBody(c, config.limits.valueBytesMax);
    return write(ctx, c, target, { value, contentType, tombstone: false, body: value, ttlSeconds });
  });

  app.post('/:keyspace/:key{.+}/expire', async (c) => {
    const target = locate(ctx, c);
    checkExpiry(target.ks);
    const body = await readBody(c, EXPIRE_BODY_BYTES_MAX);
    const ttlSeconds = parseExpireBody(body, config.expiry.ttlSecondsMax);
    return write(ctx, c, target, { value: new Uint8Array(0), contentType: '', tombstone: false, body, storeOp: 'expire', ttlSeconds });
  });

  app.post('/:keyspace/:key{.+}/incr', async (c) => {
    const target = locateFor(ctx, c, 'incr');
    const body = await readBody(c, config.limits.valueBytesMax);
    const by = parseIncr(body);
    return write(ctx, c, target, { value: Buffer.from(by), contentType: 'application/json', tombstone: false, body, op: 'incr' });
  });

  for (const op of ['add', 'remove'] as const) {
    app.post(`/:keyspace/:key{.+}/${op}`, async (c) => {
      const target = locateFor(ctx, c, op);
      const body = await readBody(c, config.limits.valueBytesMax);
      const members = parseMembers(body);
      const compute = op === 'add' ? addMembers : removeMembers;
      return write(ctx, c, target, { value: body, contentType: 'application/json', tombstone: false, body, op, compute: (cur) => compute(cur, members, target.ks.name) });
    });
  }

  app.patch('/:keyspace/:key{.+}', async (c) => {
    const target = locateFor(ctx, c, 'merge-patch');
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/merge-patch\+json\s*(;|$)/i.test(type)) throw new BadRequestError('PATCH takes a JSON merge patch (content-type: application/merge-patch+json, RFC 7386)', 'bad_content_type');
    const body = await readBody(c, config.limits.valueBytesMax);
    const patch = parseJsonBody(body);
    return write(ctx, c, target, { value: body, contentType: 'application/json', tombstone: false, body, op: 'merge-patch', compute: (cur) => applyMergePatch(cur, patch, target.ks.name) });
  });

  app.delete('/:keyspace/:key{.+}', async (c) => {
    const target = locate(ctx, c);
    return write(ctx, c, target, { value: new Uint8Array(0), contentType: '', tombstone: true, body: new Uint8Array(0) });
  });

  return app;
}

interface Target {
  ks: KeyspaceConfig;
  key: string;
  placement: { partition: number; bucket: number };
}

/** `locate`, then: the keyspace's resolver gives `op` a meaning (else 409 naming the resolver). */
function locateFor(ctx: GatewayContext, c: Context, op: Operation): Target {
  const t = locate(ctx, c);
  checkOperation(t.ks, op);
  return t;
}

function locate(ctx: GatewayContext, c: Context): Target {
  const ksName = c.req.param('keyspace') ?? '';
  const key = c.req.param('key') ?? '';
  const ks = ctx.keyspaces.get(ksName);
  if (!ks) throw new NotFoundError(`unknown keyspace "${ksName}"`, 'unknown_keyspace');
  validateKey(key, ctx.config.limits.keyBytesMax);
  return { ks, key, placement: ctx.maps.get(ks.name)!.place(key) };
}

export function validateKey(key: string, keyBytesMax: number): void {
  if (key.length === 0) throw new BadRequestError('empty key', 'bad_key');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > keyBytesMax) throw new BadRequestError(`key is ${bytes} bytes, more than ${keyBytesMax} (limits.keyBytesMax)`, 'key_too_long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new BadRequestError('key contains control characters', 'bad_key');
  if (key.includes('\ufffd')) throw new BadRequestError('key is not valid UTF-8', 'bad_key');
}

function setPlacementHeaders(ctx: GatewayContext, c: Context, ks: KeyspaceConfig, partition: number): void {
  c.header('x-geogate-region', ctx.config.region);
  c.header('x-geogate-partition', ctx.maps.get(ks.name)!.partitionName(partition));
  const active = ctx.authority.activeRegion(ks, partition);
  if (ks.writes === 'single-master' && active !== ctx.config.region) c.header('x-geogate-stale', 'possible');
}

/**
 * What a route writes; `body` is the request's own body (what a retry must repeat), `op` a
 * server-side operation. With `compute`, the value is computed from the current one (absent:
 * undefined) and written with If-Match on the version read (If-None-Match when absent),
 * OP_ATTEMPTS_MAX times at most when other writes come in between.
 */
interface WriteBody {
  value: Uint8Array;
  contentType: string;
  tombstone: boolean;
  body: Uint8Array;
  op?: Operation | undefined;
  /** `expire`: only the expiry changes (the live value is kept); 404 when there is none. */
  storeOp?: 'expire' | undefined;
  /** The version's time to live in seconds (0 / absent: it never expires). */
  ttlSeconds?: number | undefined;
  compute?: ((current: Uint8Array | undefined) => Uint8Array) | undefined;
}

/** Attempts of a computed operation (add, remove, merge-patch) against concurrent writes of the key. */
export const OP_ATTEMPTS_MAX = 8;

async function write(ctx: GatewayContext, c: Context, t: Target, body: WriteBody) {
  const auth = ctx.authority.check(t.ks, t.placement.partition);
  if (auth.kind === 'redirect') {
    const url = ctx.publicUrls.get(auth.region);
    if (!url) throw new UnavailableError(`partition is written at region ${auth.region}, whose URL is unknown here`, 'owner_unknown');
    const asked = new URL(c.req.url);
    throw new RedirectError(auth.region, url + asked.pathname + asked.search); // ?ttl= goes along
  }
  if (auth.kind === 'unavailable') throw new UnavailableError(auth.reason, auth.code ?? 'no_write_authority', Math.max(1, Math.ceil(auth.retryAfterMs / 1000)));
  const session = sessionOf(ctx);
  session.parse(c); // a write does not wait for a token; a malformed one is still 400
  const ifMatch = parseEtag(c.req.header('if-match'));
  const ifNoneMatch = c.req.header('if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw new BadRequestError('only If-None-Match: * is supported');
  const idempotency = idempotencyOf(c, ctx.config.idempotency, {
    method: c.req.method, keyspace: t.ks.name, key: t.key, op: `${body.op ?? body.storeOp ?? ''}${body.ttlSeconds ? `;ttl=${body.ttlSeconds}` : ''}`, contentType: body.contentType,
    ifMatch: ifMatch ?? '', ifNoneMatch: ifNoneMatch ?? '', body: body.body,
  });
  // no await since check(): a handover that stops the partition now waits for this write
  const ended = ctx.writeGuard?.begin(t.ks.name, t.placement.partition);
  try {
    const req: WriteRequest = {
      keyspace: t.ks.name, key: t.key, partition: t.placement.partition, bucket: t.placement.bucket,
      value: body.value, contentType: body.contentType, tombstone: body.tombstone,
      ifMatch, ifNoneMatch: ifNoneMatch !== undefined, epoch: auth.epoch, fenced: auth.fenced,
      leaseEndMonoMs: auth.leaseEndMonoMs,
      replicaWait: t.ks.durability === 'replica' ? { replicas: 1, timeoutMs: t.ks.replicaWaitMs } : undefined,
      op: body.op === 'incr' ? 'incr' : body.storeOp, idempotency,
      ttlMs: body.ttlSeconds ? body.ttlSeconds * 1000 : undefined,
    };
    const res = body.compute ? await computedWrite(ctx, req, body.compute) : await ctx.store.write(req);
    if (res.replayed) return replay(ctx, c, t, res, res.replayed);
    // the lease may have ended while Redis ran the script: acknowledge only inside it
    if (auth.fenced && auth.leaseEndMonoMs !== undefined && ctx.monoMs() >= auth.leaseEndMonoMs) {
      throw new WriteOutcomeUnknownError(`the write lease of ${t.ks.name}/${t.placement.partition} ended before Redis answered`);
    }
    // ... or ownership moved while it ran (a newer epoch learnt: our lease is void already)
    if (auth.fenced && ctx.writeGuard && !ctx.writeGuard.stillHolds(t.ks.name, t.placement.partition, auth.epoch)) {
      throw new WriteOutcomeUnknownError(`the write lease of ${t.ks.name}/${t.placement.partition} was given up before Redis answered`);
    }
    ctx.onLocalWrite(res.seq, res.packed);
    await ctx.afterWrite(t.ks, t.placement.partition, res.seq);
    await session.answer(c);
    setPlacementHeaders(ctx, c, t.ks, t.placement.partition);
    c.header('x-geogate-epoch', String(auth.epoch)); // the ownership epoch the write was taken under
    c.header('x-geogate-hlc', res.hlc); // the write's own stamp, which lww compares (wallMs.logical)
    c.header('etag', `"${res.version}"`);
    if (res.expiresAtMs !== undefined) c.header('x-geogate-expires-at', String(res.expiresAtMs));
    if (body.tombstone) return c.body(null, 204);
    return c.json({ version: res.version, created: res.created }, res.created ? 201 : 200);
  } catch (err) {
    if (err instanceof StoreError) throw mapStoreError(err, t);
    throw err;
  } finally {
    ended?.();
  }
}

/**
 * Reads the key, computes its new value, writes it conditionally on the version read; again
 * when another write came in between, OP_ATTEMPTS_MAX times at most. A client's own If-Match
 * or If-None-Match is one attempt (its precondition failing is its 412). A retry with a
 * remembered Idempotency-Key is answered by the script before its If-Match is looked at.
 */
async function computedWrite(ctx: GatewayContext, req: WriteRequest, compute: (current: Uint8Array | undefined) => Uint8Array): Promise<WriteResult> {
  const own = req.ifMatch !== undefined || req.ifNoneMatch === true;
  for (let attempt = 1; ; attempt++) {
    const rec = await ctx.store.get(req.keyspace, req.key);
    const live = isReadable(rec, ctx.nowMs()) ? rec : undefined;
    const value = compute(live?.value);
    if (value.byteLength > ctx.config.limits.valueBytesMax) throw new PayloadTooLargeError(`the result is ${value.byteLength} bytes, more than ${ctx.config.limits.valueBytesMax} (limits.valueBytesMax)`);
    const cas = own ? {} : live ? { ifMatch: live.version, ifNoneMatch: false } : { ifMatch: undefined, ifNoneMatch: true };
    try {
      return await ctx.store.write({ ...req, ...cas, value, contentType: live?.contentType || req.contentType });
    } catch (err) {
      const raced = err instanceof StoreError && (err.code === StoreErrorCode.IfMatchFailed || err.code === StoreErrorCode.IfNoneMatchFailed);
      if (own || !raced) throw err;
      if (attempt >= OP_ATTEMPTS_MAX) throw new UnavailableError(`"${req.key}" changed under each of ${OP_ATTEMPTS_MAX} attempts of the operation; nothing was written`, 'operation_contended', 1);
    }
  }
}

/**
 * A retry of a request whose outcome is remembered: the first answer again (status, ETag,
 * epoch and stamp), nothing written now. Sync replicas are waited for as the first attempt
 * did (it may have failed there, after the write).
 */
async function replay(ctx: GatewayContext, c: Context, t: Target, res: WriteResult, first: { tombstone: boolean; epoch: number }) {
  // seq 0: an outcome learnt from a peer's change (its origin waited for its sync replicas)
  if (res.seq > 0) await ctx.afterWrite(t.ks, t.placement.partition, res.seq);
  await sessionOf(ctx).answer(c);
  setPlacementHeaders(ctx, c, t.ks, t.placement.partition);
  c.header('x-geogate-epoch', String(first.epoch));
  c.header('x-geogate-hlc', res.hlc);
  c.header('etag', `"${res.version}"`);
  c.header('x-geogate-idempotent-replay', 'true');
  if (first.tombstone) return c.body(null, 204);
  return c.json({ version: res.version, created: res.created }, res.created ? 201 : 200);
}

function mapStoreError(err: StoreError, t: Target): Error {
  switch (err.code) {
    case StoreErrorCode.IfMatchFailed: return new PreconditionFailedError(`If-Match does not match the current version of "${t.key}"`);
    case StoreErrorCode.IfNoneMatchFailed: return new PreconditionFailedError(`"${t.key}" exists (If-None-Match: *)`);
    case StoreErrorCode.NotFound: return new NotFoundError(`no key "${t.key}" in ${t.ks.name}`);
    case StoreErrorCode.Fenced: return new FencedError(t.ks.name, t.placement.partition);
    case StoreErrorCode.StoreReset: return new UnavailableError(err.message, 'store_reset', 1);
    case StoreErrorCode.NotACounter: return new OperationNotSupportedError(`the current value of "${t.key}" is not a PN-counter ({"p":{region:n},"n":{region:n}}) or a count would pass 2^53`, 'not_a_counter');
    case StoreErrorCode.IdempotencyFull: return new UnavailableError(`${err.message}; nothing was written, retry once older outcomes expired`, 'idempotency_full', 1);
    case StoreErrorCode.IdempotencyKeyReused: return new IdempotencyKeyReusedError(`Idempotency-Key was first used by a request with another method, key, operation, conditional headers or body; use a new key for "${t.key}"`);
    default: return err;
  }
}

/** `"v"`, `W/"v"` or `*` → the bare version; a list is refused (one version per write). */
export function parseEtag(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const h = header.trim();
  if (h === '*') return '*';
  const m = /^(?:W\/)?"([^"]*)"$/.exec(h);
  if (!m) throw new BadRequestError('If-Match must be one quoted version or *');
  if (m[1] === '') throw new BadRequestError('If-Match version is empty');
  return m[1];
}
