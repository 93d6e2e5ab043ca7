/** The peer GET of the cluster routes at its bounds: reply size, time, refused, errors (a local HTTP server). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { getJson } from './cluster-routes.js';

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/big') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ pad: 'x'.repeat(10_000) })); return; }
    if (req.url === '/exact') { res.end(JSON.stringify({ pad: 'x'.repeat(990) })); return; }
    if (req.url === '/slow') return; // never answers
    if (req.url === '/401') { res.statusCode = 401; res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'wrong admin token' } })); return; }
    if (req.url === '/text') { res.end('not json'); return; }
    if (req.url === '/auth') { res.end(JSON.stringify({ auth: req.headers.authorization ?? null })); return; }
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => { server.closeAllConnections(); server.close(); });

describe('cluster routes: one peer GET', () => {
  it('answers the JSON body within the bounds, with the authorization passed on', async () => {
    expect(await getJson(`${base}/`, { timeoutMs: 1000, bytesMax: 1000 })).toEqual({ ok: true });
    expect(await getJson(`${base}/auth`, { timeoutMs: 1000, bytesMax: 1000, authorization: 'Bearer t' })).toEqual({ auth: 'Bearer t' });
  });
  it('a reply over bytesMax is an error naming the bound; one at it is taken', async () => {
    await expect(getJson(`${base}/big`, { timeoutMs: 1000, bytesMax: 1000 })).rejects.toThrow('reply over 1000 bytes');
    const len = Buffer.byteLength(JSON.stringify({ pad: 'x'.repeat(990) }));
    expect(await getJson(`${base}/exact`, { timeoutMs: 1000, bytesMax: len })).toMatchObject({ pad: expect.any(String) });
    await expect(getJson(`${base}/exact`, { timeoutMs: 1000, bytesMax: len - 1 })).rejects.toThrow(`reply over ${len - 1} bytes`);
  });
  it('no answer in timeoutMs: "timeout after N ms", and it comes at the bound', async () => {
    const t0 = performance.now();
    await expect(getJson(`${base}/slow`, { timeoutMs: 200, bytesMax: 1000 })).rejects.toThrow('timeout after 200 ms');
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(195);
    expect(ms).toBeLessThan(700);
  });
  it('refused, an HTTP error with the peer\'s message, a reply that is not JSON', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((r) => dead.close(() => r()));
    await expect(getJson(`http://127.0.0.1:${port}/`, { timeoutMs: 1000, bytesMax: 1000 })).rejects.toThrow('connection refused');
    await expect(getJson(`${base}/401`, { timeoutMs: 1000, bytesMax: 1000 })).rejects.toThrow('HTTP 401: wrong admin token');
    await expect(getJson(`${base}/text`, { timeoutMs: 1000, bytesMax: 1000 })).rejects.toThrow('HTTP 200: reply is not JSON');
  });
});
