/**
 * The baseline the gateway is measured against: a bare hono + @hono/node-server + ioredis
 * app with the same HTTP shape (PUT / GET /v1/kv/:keyspace/:key), reading a PUT's body the
 * same way as the gateway (gateway/http/body.ts). A PUT is one Lua call
 * that SETs the value and XADDs the change to a capped stream — the minimal equivalent of
 * the gateway's write path (one round trip, record + replication log). A GET is one GET.
 * Nothing else: no partition map, no version vector, no Merkle digest, no metrics.
 *
 * Env: BASELINE_REDIS_URL, BASELINE_PORT (0 = any). Prints `READY <port>`.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { announceReady, onStopSignal } from './child.js';
import { readBody } from '../../gateway/http/body.js';

export const BASELINE_LOG_ENTRIES_MAX = 1_000_000;
export const BASELINE_VALUE_BYTES_MAX = 1024 * 1024;

const PUT_SCRIPT = `
redis.call("SET", KEYS[1], ARGV[1])
local id = redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[3], "*", "k", ARGV[2], "v", ARGV[1])
return id`;

const redisUrl = process.env.BASELINE_REDIS_URL;
if (!redisUrl) throw new Error('BASELINE_REDIS_URL is not set');
const redis = new Redis(redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 1 });
redis.defineCommand('putBaseline', { numberOfKeys: 2, lua: PUT_SCRIPT });
const putBaseline = (recordKey: string, logKey: string, value: Buffer, key: string, max: number) =>
  (redis as unknown as Record<string, (...a: unknown[]) => Promise<string>>).putBaseline!(recordKey, logKey, value, key, max);

const app = new Hono();
app.put('/v1/kv/:keyspace/:key{.+}', async (c) => {
  const ks = c.req.param('keyspace');
  const key = c.req.param('key');
  // the body is read exactly as the gateway reads it (from Node's IncomingMessage): hono's
  // c.req.arrayBuffer() builds a Web Request and stream per PUT and halved this server's rate
  const value = Buffer.from(await readBody(c, BASELINE_VALUE_BYTES_MAX));
  const id = await putBaseline(`b:r:${ks}:${key}`, 'b:log', value, key, BASELINE_LOG_ENTRIES_MAX);
  c.header('etag', `"${id}"`);
  return c.json({ version: id }, 200);
});
app.get('/v1/kv/:keyspace/:key{.+}', async (c) => {
  const value = await redis.getBuffer(`b:r:${c.req.param('keyspace')}:${c.req.param('key')}`);
  if (!value) return c.json({ error: { code: 'not_found' } }, 404);
  c.header('content-type', 'application/octet-stream');
  return c.body(new Uint8Array(value.buffer, value.byteOffset, value.byteLength) as unknown as ArrayBuffer, 200);
});

const port = Number(process.env.BASELINE_PORT ?? 0);
const server = await new Promise<{ server: Server; port: number }>((resolve) => {
  const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, (info) => resolve({ server: s as Server, port: info.port })) as Server;
});
onStopSignal(async () => {
  await new Promise<void>((r) => server.server.close(() => r()));
  server.server.closeAllConnections?.();
  redis.disconnect();
});
announceReady(server.port);
