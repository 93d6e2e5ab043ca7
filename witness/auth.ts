import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthError, OverloadedError } from './errors.js';

/**
 * Request signing with the cluster secret: HMAC-SHA256 over method, path, timestamp, nonce
 * and the body's digest. Unlike a bearer token the secret never crosses the WAN and a
 * captured request cannot be altered; replays are refused within the skew window by a
 * bounded nonce cache (when full, requests are refused with 503 rather than forgetting
 * nonces early).
 */
export const HEADER_TS = 'x-geogate-ts';
export const HEADER_NONCE = 'x-geogate-nonce';
export const HEADER_SIG = 'x-geogate-sig';

export function signature(secret: string, method: string, path: string, tsMs: string, nonce: string, body: string): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', secret).update(`${method.toUpperCase()}\n${path}\n${tsMs}\n${nonce}\n${bodyHash}`).digest('hex');
}

export function signRequest(secret: string, method: string, path: string, body: string, nowMs: number): Record<string, string> {
  const ts = String(Math.floor(nowMs));
  const nonce = randomBytes(16).toString('hex');
  return { [HEADER_TS]: ts, [HEADER_NONCE]: nonce, [HEADER_SIG]: signature(secret, method, path, ts, nonce, body) };
}

export class RequestVerifier {
  private readonly seen = new Map<string, number>(); // nonce → expiry (wall ms)

  private readonly secrets: () => readonly string[];

  /** `secret`: one, or the accepted ones read at every request (rotation: a signature by any of them is accepted). */
  constructor(secret: string | (() => readonly string[]), private readonly skewMs: number, private readonly cacheMax: number) {
    this.secrets = typeof secret === 'string' ? () => [secret] : secret;
  }

  verify(method: string, path: string, headers: (name: string) => string | undefined, body: string, nowMs: number): void {
    const ts = headers(HEADER_TS);
    const nonce = headers(HEADER_NONCE);
    const sig = headers(HEADER_SIG);
    if (!ts || !nonce || !sig) throw new AuthError('missing signature headers');
    if (!/^\d{1,16}$/.test(ts) || !/^[0-9a-f]{16,64}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig)) throw new AuthError('malformed signature headers');
    if (Math.abs(nowMs - Number(ts)) > this.skewMs) throw new AuthError('timestamp outside the allowed clock skew');
    const given = Buffer.from(sig, 'hex');
    const matches = this.secrets().some((secret) => timingSafeEqual(Buffer.from(signature(secret, method, path, ts, nonce, body), 'hex'), given));
    if (!matches) throw new AuthError('bad signature');
    this.remember(nonce, nowMs);
  }

  get size(): number {
    return this.seen.size;
  }

  private remember(nonce: string, nowMs: number): void {
    if (this.seen.has(nonce)) throw new AuthError('replayed request');
    if (this.seen.size >= this.cacheMax) {
      for (const [n, exp] of this.seen) if (exp <= nowMs) this.seen.delete(n);
      if (this.seen.size >= this.cacheMax) throw new OverloadedError('replay cache full', 1000);
    }
    this.seen.set(nonce, nowMs + 2 * this.skewMs);
  }
}
