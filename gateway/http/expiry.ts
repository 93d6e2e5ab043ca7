/**
 * Expiry on the HTTP API (docs/api.md "Expiry"): `PUT …?ttl=SECONDS` and `POST …/expire
 * {ttlSeconds}` validated here. A time to live is a whole number of seconds, 1 to
 * `expiry.ttlSecondsMax`; 0 (or none) means the version never expires. Expiry is refused on
 * keyspaces whose resolver merges values (counter, set, json-merge): a merged version is made
 * of both sides, so neither side's expiry would be its own.
 */
import type { KeyspaceConfig } from '../config.js';
import { BadRequestError, OperationNotSupportedError } from '../errors.js';
import { ExpireBody, parseWith } from './api-schema.js';
import { parseJsonBody } from './operations.js';

/** Resolvers whose resolution keeps one side's content whole (its expiry with it). */
const EXPIRY_RESOLVERS = /^(lww|source-wins|trigger:.+)$/;

export function expiryAllowed(ks: KeyspaceConfig): boolean {
  return EXPIRY_RESOLVERS.test(ks.resolver);
}

export function checkExpiry(ks: KeyspaceConfig): void {
  if (!expiryAllowed(ks)) {
    throw new OperationNotSupportedError(`expiry needs a keyspace whose resolver keeps one side (lww, source-wins, trigger:<name>); keyspace ${ks.name} has resolver ${ks.resolver}, which merges values`, 'expiry_not_supported');
  }
}

/** `?ttl=` of a PUT: seconds, 0 = none (also when absent). */
export function parseTtlQuery(raw: string | undefined, ttlSecondsMax: number): number {
  if (raw === undefined) return 0;
  if (!/^\d{1,12}$/.test(raw)) throw new BadRequestError(`ttl must be a whole number of seconds (0-${ttlSecondsMax}), got "${raw.slice(0, 32)}"`, 'bad_ttl');
  return checkTtl(Number(raw), ttlSecondsMax);
}

/** `{"ttlSeconds": n}` of POST …/expire (absent or 0: remove the expiry). */
export function parseExpireBody(body: Uint8Array, ttlSecondsMax: number): number {
  const raw = body.byteLength === 0 ? {} : parseJsonBody(body);
  return checkTtl(parseWith(ExpireBody, raw).ttlSeconds ?? 0, ttlSecondsMax);
}

function checkTtl(seconds: number, ttlSecondsMax: number): number {
  if (seconds > ttlSecondsMax) throw new BadRequestError(`ttl ${seconds} s is more than ${ttlSecondsMax} s (expiry.ttlSecondsMax)`, 'ttl_too_long');
  return seconds;
}
