/**
 * The OpenAPI document (issue 13 item 6) against a running gateway: every answer of a set of
 * real requests (successes and errors) is documented for its route and status, its body
 * validates against the documented schema (the same zod schemas the routes validate request
 * bodies with), and the documented headers are there; the document served at
 * /v1/openapi.json is the one generated, and docs/openapi.json is kept equal to it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegion } from '../helpers/cluster.js';
import { API_ROUTES, API_VERSION, openApiDocument, routeOf } from '../../gateway/http/api-schema.js';
import { OPENAPI_FILE, openApiText } from '../../infra/build/openapi.js';

const TOKEN = 'openapi-admin-token-0123456789';
let region: Awaited<ReturnType<typeof startRegion>>;
let url = '';
beforeAll(async () => {
  region = await startRegion('east', ['east'], {
    admin: { token: TOKEN },
    keyspaces: [
      { name: 'orders', partitions: 4, onSplit: 'fence' },
      { name: 'carts', partitions: 4, onSplit: 'diverge', writes: 'multi-master' },
      { name: 'counts', partitions: 4, onSplit: 'diverge', writes: 'multi-master', resolver: 'counter' },
      { name: 'tags', partitions: 4, onSplit: 'diverge', writes: 'multi-master', resolver: 'set' },
    ],
  });
  url = region.gateway.url;
});
afterAll(async () => { await region?.stop(); });

interface Call { method: string; path: string; body?: string; headers?: Record<string, string> }
const json = { 'content-type': 'application/json' };
const CALLS: Call[] = [
  { method: 'PUT', path: '/v1/kv/carts/a', body: 'hello', headers: { 'content-type': 'text/plain' } },
  { method: 'PUT', path: '/v1/kv/carts/a', body: 'again', headers: { 'content-type': 'text/plain', 'idempotency-key': 'k-1' } },
  { method: 'PUT', path: '/v1/kv/carts/a', body: 'x', headers: { 'if-match': '"nope:1"' } },
  { method: 'PUT', path: '/v1/kv/nope/a', body: 'x' },
  { method: 'GET', path: '/v1/kv/carts/a' },
  { method: 'GET', path: '/v1/kv/carts/missing' },
  { method: 'GET', path: '/v1/kv/carts/a', headers: { 'x-geogate-session': 'not a token' } },
  { method: 'DELETE', path: '/v1/kv/carts/a' },
  { method: 'DELETE', path: '/v1/kv/carts/a' },
  { method: 'POST', path: '/v1/kv/counts/c/incr', body: '{"by":3}', headers: json },
  { method: 'POST', path: '/v1/kv/counts/c/incr', body: '{"by":"x"}', headers: json },
  { method: 'POST', path: '/v1/kv/carts/c/incr', body: '{"by":1}', headers: json },
  { method: 'PUT', path: '/v1/kv/carts/e?ttl=60', body: 'x' },
  { method: 'PUT', path: '/v1/kv/carts/e?ttl=-1', body: 'x' },
  { method: 'PUT', path: '/v1/kv/counts/e?ttl=60', body: 'x' },
  { method: 'POST', path: '/v1/kv/carts/e/expire', body: '{"ttlSeconds":120}', headers: json },
  { method: 'POST', path: '/v1/kv/carts/e/expire', body: '{}', headers: { ...json, 'idempotency-key': 'k-2' } },
  { method: 'POST', path: '/v1/kv/carts/e/expire', body: '{"ttlSeconds":"x"}', headers: json },
  { method: 'POST', path: '/v1/kv/carts/missing/expire', body: '{"ttlSeconds":1}', headers: json },
  { method: 'POST', path: '/v1/kv/tags/t/expire', body: '{"ttlSeconds":1}', headers: json },
  { method: 'POST', path: '/v1/kv/tags/t/add', body: '{"members":["a","b"]}', headers: json },
  { method: 'POST', path: '/v1/kv/tags/t/remove', body: '{"members":["a"]}', headers: json },
  { method: 'POST', path: '/v1/kv/tags/t/add', body: '{"members":[]}', headers: json },
  { method: 'POST', path: '/v1/kv/carts/_mget', body: '{"keys":["a","b"]}', headers: json },
  { method: 'POST', path: '/v1/kv/counts/_mget', body: '{"keys":["c"]}', headers: json },
  { method: 'POST', path: '/v1/kv/carts/_mget', body: '{"keys":[1]}', headers: json },
  { method: 'GET', path: '/v1/kv/carts?limit=10' },
  { method: 'GET', path: '/v1/kv/carts?limit=0' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/readyz?keyspace=nope' },
  { method: 'GET', path: '/v1/status' },
  { method: 'GET', path: '/v1/decisions' },
  { method: 'GET', path: '/v1/conflicts?limit=5' },
  { method: 'GET', path: '/v1/conflicts?after=bad' },
  { method: 'POST', path: '/v1/conflicts/ack', body: '{"id":"1-0"}', headers: json },
  { method: 'POST', path: '/v1/conflicts/ack', body: '{"id":7}', headers: json },
  { method: 'GET', path: '/v1/conflicts/dead-letters' },
  { method: 'GET', path: '/v1/cluster' },
  { method: 'GET', path: '/v1/cluster/conflicts' },
  { method: 'GET', path: '/v1/cluster/decisions' },
  { method: 'POST', path: '/v1/admin/restore', body: '{"keyspace":"carts","partition":0,"source":"west"}', headers: json },
  { method: 'POST', path: '/v1/admin/restore', body: '{"keyspace":"carts","partition":0,"source":"west"}', headers: { ...json, authorization: `Bearer ${TOKEN}` } },
  { method: 'POST', path: '/v1/admin/restore', body: '{"keyspace":"carts"}', headers: { ...json, authorization: `Bearer ${TOKEN}` } },
  { method: 'GET', path: '/metrics' },
];

describe('OpenAPI document', () => {
  it('every answer is documented for its route and status, with a body of the documented schema and the documented headers', async () => {
    const seen = new Set<string>();
    for (const call of CALLS) {
      const res = await fetch(`${url}${call.path}`, { method: call.method, headers: call.headers, body: call.body, redirect: 'manual' });
      const what = `${call.method} ${call.path} -> ${res.status}`;
      const route = routeOf(call.method, new URL(call.path, url).pathname);
      expect(route, `${what}: no documented route`).toBeDefined();
      const doc = route!.responses[res.status];
      expect(doc, `${what}: status not documented for ${route!.method} ${route!.path}`).toBeDefined();
      seen.add(`${route!.method} ${route!.path} ${res.status}`);
      const text = await res.text();
      if (doc!.schema) {
        expect(res.headers.get('content-type'), what).toMatch(/application\/json/);
        const parsed = doc!.schema.safeParse(JSON.parse(text));
        expect(parsed.success, `${what}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues.slice(0, 3))}\n${text.slice(0, 300)}`).toBe(true);
      }
      if (res.status < 300) for (const h of doc!.headers ?? []) {
        if (h === 'x-geogate-epoch' || h === 'x-geogate-session' || h === 'x-geogate-partition') continue; // not on every answer (no witness, no token yet, …)
        expect(res.headers.get(h), `${what}: header ${h}`).not.toBeNull();
      }
    }
    // the calls cover every documented route but the document itself
    const routes = new Set([...seen].map((s) => s.split(' ').slice(0, 2).join(' ')));
    const missing = API_ROUTES.filter((r) => !routes.has(`${r.method} ${r.path}`)).map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual(['patch /v1/kv/{keyspace}/{key}', 'get /v1/openapi.json']);
  });

  it('is served at /v1/openapi.json as generated, and docs/openapi.json is kept equal to it (npm run openapi)', async () => {
    const served = await (await fetch(`${url}/v1/openapi.json`)).json() as { openapi: string; paths: Record<string, unknown> };
    expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocument(API_VERSION))));
    expect(served.openapi).toBe('3.1.0');
    expect(Object.keys(served.paths).length).toBeGreaterThan(15);
    expect(readFileSync(OPENAPI_FILE, 'utf8'), 'docs/openapi.json is stale: run npm run openapi').toBe(openApiText());
  });
});
