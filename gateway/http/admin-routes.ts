/**
 * Operator endpoints behind the admin token (`admin.token`, `admin.tokenFile` or
 * `admin.tokenEnv`; none: they answer 404; admin-guard.ts).
 * POST /v1/admin/restore { keyspace, partition, source } merges one partition from a named
 * source region with the keyspace's conflict rules (StreamBase's restore).
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { parseWith, RestoreBody } from './api-schema.js';
import type { GatewayContext } from './context.js';
import { BadRequestError, GeogateError, NotFoundError, PayloadTooLargeError, UnavailableError } from '../errors.js';
import { adminGuard } from './admin-guard.js';

export const ADMIN_BODY_BYTES_MAX = 4096;


export function adminRoutes(ctx: GatewayContext): Hono {
  const app = new Hono();
  app.use('*', adminGuard({ tokens: () => ctx.adminTokens(), onRefused: (reason) => ctx.onAdminRefused?.(reason) }));
  app.post('/restore', bodyLimit({ maxSize: ADMIN_BODY_BYTES_MAX, onError: () => { throw new PayloadTooLargeError(`body over ${ADMIN_BODY_BYTES_MAX} bytes`); } }), async (c) => {
    let raw: unknown;
    try { raw = await c.req.json(); } catch { throw new BadRequestError('body must be JSON'); }
    const { keyspace, partition, source } = parseWith(RestoreBody, raw, 'bad_request');
    const ks = ctx.keyspaces.get(keyspace);
    if (!ks) throw new NotFoundError(`unknown keyspace "${keyspace}"`, 'unknown_keyspace');
    if (partition >= ks.partitions) throw new BadRequestError(`partition ${partition} out of range (keyspace has ${ks.partitions})`);
    if (!ctx.config.peers.some((p) => p.region === source)) throw new BadRequestError(`"${source}" is not a peer region of ${ctx.config.region}`);
    if (!ctx.antiEntropy) throw new UnavailableError('anti-entropy is off (no peers or antiEntropy.enabled=false)', 'anti_entropy_off');
    try {
      const stats = await ctx.antiEntropy.restorePartition(source, keyspace, partition);
      ctx.log.info({ keyspace, partition, source, stats }, 'partition restored from source');
      return c.json({ keyspace, partition, source, stats });
    } catch (err) {
      if (err instanceof GeogateError) throw err;
      throw new UnavailableError(`restore from ${source} failed: ${(err as Error).message}`, 'restore_failed');
    }
  });
  return app;
}
