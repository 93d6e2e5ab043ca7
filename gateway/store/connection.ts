/**
 * The one place a gateway opens a connection to its region's Redis: standalone
 * (`redis.url`) or through Sentinel (`redis.sentinels` + `redis.name`, ioredis's own
 * SentinelConnector: it asks the sentinels for the current master, checks the role it
 * reached, and with `failoverDetector` drops the connection when the sentinels announce a
 * new master). Every connection has the same write-path rules, whatever the mode:
 *  - no offline queue: a command issued while the connection is down fails at once
 *    (503 store_unavailable, it was never sent);
 *  - no command is resent after a reconnect (`autoResendUnfulfilledCommands: false`): a
 *    write sent once may have run — on the old master, before a failover — so it is
 *    answered as write_outcome_unknown, and a replayed one could land after its lease ended
 *    or on a master whose clock the fence mapping has not sampled yet.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';

export const REDIS_RETRY_DELAY_MS_MAX = 1000;
/** Sentinel mode: the longest pause between two rounds over every sentinel. */
export const SENTINEL_RETRY_DELAY_MS_MAX = 1000;

export type RedisStoreConfig = GatewayConfig['redis'];

/** `host:port` (IPv6 in brackets) as ioredis's sentinel address. */
export function parseSentinelAddress(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const host = text.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`not a host:port: "${text}"`);
  return { host, port };
}

/** `redis.tls` read from its files: the CAs, the client certificate and key (ioredis `tls`). */
export function readRedisTls(tls: NonNullable<RedisStoreConfig['tls']>): ConnectionOptions {
  const read = (f: string, field: string) => {
    try { return readFileSync(f, 'utf8'); } catch (err) { throw new Error(`redis.tls.${field}: cannot read ${f}: ${(err as Error).message}`); }
  };
  const caFiles = tls.caFile === undefined ? [] : typeof tls.caFile === 'string' ? [tls.caFile] : tls.caFile;
  return {
    ...(caFiles.length > 0 ? { ca: caFiles.map((f) => read(f, 'caFile')) } : {}),
    ...(tls.certFile !== undefined && tls.keyFile !== undefined ? { cert: read(tls.certFile, 'certFile'), key: read(tls.keyFile, 'keyFile') } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  };
}

/** The ioredis options of a store connection (pure: tested without a server); `tls` from readRedisTls. */
export function redisOptions(redis: RedisStoreConfig, tls?: ConnectionOptions): RedisOptions {
  const common: RedisOptions = {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 1,
    commandTimeout: redis.commandTimeoutMs,
    connectTimeout: redis.commandTimeoutMs,
    retryStrategy: (times) => Math.min(times * 50, REDIS_RETRY_DELAY_MS_MAX),
    lazyConnect: false,
    ...(tls ? { tls } : {}),
  };
  if (redis.sentinels === undefined) return common;
  return {
    ...common,
    sentinels: redis.sentinels.map(parseSentinelAddress),
    name: redis.name,
    role: 'master',
    failoverDetector: true,
    sentinelCommandTimeout: redis.commandTimeoutMs,
    sentinelRetryStrategy: (times) => Math.min(times * 50, SENTINEL_RETRY_DELAY_MS_MAX),
    // with redis.tls the sentinels and the master they name are reached over TLS alike
    ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
  };
}

/** Where the store connections go, for logs and status. */
export function describeStore(redis: RedisStoreConfig): string {
  return redis.sentinels ? `sentinel ${redis.name} via ${redis.sentinels.join(',')}` : redis.url ?? '';
}

/** A connection to the region's Redis (every one the gateway opens comes from here). */
export function createStoreConnection(redis: RedisStoreConfig, log: Logger): Redis {
  const options = redisOptions(redis, redis.tls ? readRedisTls(redis.tls) : undefined);
  const client = redis.url !== undefined ? new Redis(redis.url, options) : new Redis(options);
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message, store: describeStore(redis) }, 'redis connection error; reconnecting');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info({ store: describeStore(redis), master: `${client.options.host}:${client.options.port}` }, 'redis connection restored');
    down = false;
  });
  return client;
}
