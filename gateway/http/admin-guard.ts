/**
 * The admin token in front of operator endpoints: `Authorization: Bearer <token>`, compared
 * with every accepted token (rotation: `admin.token` may list several, or the file / the
 * variable several). No token configured: `/v1/admin/*` answers 404 admin_disabled.
 */
import type { MiddlewareHandler } from 'hono';
import { bearerToken, tokenAccepted } from '../../security/index.js';
import { GeogateError, NotFoundError } from '../errors.js';

export class UnauthorizedError extends GeogateError {
  override name = 'UnauthorizedError';
  constructor(message: string) {
    super(message, 401, 'unauthorized', { 'www-authenticate': 'Bearer realm="geogate"' });
  }
}

export interface AdminGuardOptions {
  /** The accepted tokens, read at every request (a reload applies at once). */
  readonly tokens: () => readonly string[];
  /** Counts a refusal (geogate_admin_auth_failures_total). */
  readonly onRefused?: (reason: 'missing' | 'wrong') => void;
}

export function adminGuard(o: AdminGuardOptions): MiddlewareHandler {
  return async function adminToken(c, next) {
    const tokens = o.tokens();
    if (tokens.length === 0) throw new NotFoundError('admin endpoints are disabled (set admin.token, admin.tokenFile or admin.tokenEnv)', 'admin_disabled');
    const given = bearerToken(c.req.header('authorization'));
    if (given === undefined) {
      o.onRefused?.('missing');
      throw new UnauthorizedError('this endpoint needs the admin token (Authorization: Bearer <token>)');
    }
    if (!tokenAccepted(given, tokens)) {
      o.onRefused?.('wrong');
      throw new UnauthorizedError('wrong admin token');
    }
    await next();
  };
}
