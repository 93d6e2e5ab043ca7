/**
 * The HTTP API described once, as zod schemas, for two uses: the routes validate request
 * bodies with the request schemas below (`parseWith`), and the OpenAPI 3.1 document served at
 * `/v1/openapi.json` (and kept as docs/openapi.json) is generated from the same schemas and the
 * route table `API_ROUTES`. test/integration/openapi.test.ts checks real answers of a running
 * gateway against the documented status codes and response schemas, and the kept file
 * against the generated one.
 */
import { z } from 'zod';
import { BadRequestError } from '../errors.js';

/** The version of the API the document describes (`/v1`). */
export const API_VERSION = '1.0.0';

// ---- request bodies (validated by the routes) ----
/** Members of one add/remove. */
export const MEMBERS_MAX = 1024;
/** Keys of one _mget. */
export const MGET_KEYS_MAX = 100;
/** POST …/expire: the new time to live in seconds; 0 or absent removes the expiry (the key persists). */
export const ExpireBody = z.strictObject({ ttlSeconds: z.number().int().min(0).optional() }).describe('POST …/expire');
export const IncrBody = z.strictObject({ by: z.number().int().refine(Number.isSafeInteger, 'a safe integer') }).describe('POST …/incr');
export const MembersBody = z.strictObject({ members: z.array(z.json()).min(1).max(MEMBERS_MAX) }).describe('POST …/add, …/remove');
export const MgetBody = z.strictObject({ keys: z.array(z.string().min(1)).min(1).max(MGET_KEYS_MAX) }).describe('POST /v1/kv/{keyspace}/_mget');
export const AckBody = z.strictObject({ id: z.string().regex(/^\d+-\d+$/, 'an id such as 1700000000000-0') }).describe('POST /v1/conflicts/ack');
export const RestoreBody = z.strictObject({ keyspace: z.string(), partition: z.number().int().min(0), source: z.string() }).describe('POST /v1/admin/restore');

/** Parses `raw` with `schema`, or a 400 naming the first field that is wrong. */
export function parseWith<T>(schema: z.ZodType<T>, raw: unknown, code = 'bad_body'): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new BadRequestError(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`, code);
}

// ---- responses ----
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export const WriteAnswer = z.object({ version: z.string(), created: z.boolean() });
export const MgetAnswer = z.object({
  keyspace: z.string(),
  results: z.array(z.union([
    z.object({ key: z.string(), found: z.literal(true), version: z.string(), contentType: z.string(), partition: z.string(), value: z.string() }),
    z.object({ key: z.string(), found: z.literal(true), version: z.string(), contentType: z.string(), partition: z.string(), valueBase64: z.string() }),
    z.object({ key: z.string(), found: z.literal(false) }),
  ])),
});
export const ListAnswer = z.object({ keyspace: z.string(), keys: z.array(z.string()), next: z.string().nullable() });
export const HealthAnswer = z.object({ ok: z.literal(true), region: z.string() });
export const ReadinessAnswer = z.object({
  ready: z.boolean(), region: z.string(), keyspace: z.string().optional(),
  failing: z.array(z.string()), degraded: z.array(z.string()),
  checks: z.array(z.object({ name: z.enum(['store', 'bootstrap', 'links', 'leases']), ok: z.boolean(), required: z.boolean(), detail: z.string() })),
});
const Partition = z.looseObject({ partition: z.number().int(), name: z.string(), nodes: z.array(z.string()), active: z.string().nullable(), state: z.string() });
export const StatusAnswer = z.looseObject({
  region: z.string(), cluster: z.string(), publicUrl: z.string().nullable().optional(),
  store: z.looseObject({ ok: z.boolean() }),
  keyspaces: z.array(z.looseObject({ name: z.string(), writes: z.string(), onSplit: z.string(), resolver: z.string(), partitions: z.array(Partition) })),
  peers: z.array(z.looseObject({ region: z.string(), state: z.string() })).optional(),
  /** With `coordination.enabled`: this instance's role and the region's coordinator. */
  coordination: z.object({
    id: z.string(), role: z.enum(['coordinator', 'instance']), token: z.number().nullable(),
    coordinator: z.object({ id: z.string(), url: z.string(), token: z.number() }).nullable(), takeovers: z.number(),
    /** The region's instances as their lease claims list them (ms since each one's last claim). */
    instances: z.array(z.object({ id: z.string(), url: z.string(), seenMsAgo: z.number() })),
  }).optional(),
});
export const ConflictsAnswer = z.object({
  conflicts: z.array(z.looseObject({ id: z.string() })), next: z.string().nullable(), total: z.number(), acked: z.string().nullable(),
});
export const AckAnswer = z.object({ acked: z.string() });
export const DeadLettersAnswer = z.object({ deadLetters: z.array(z.object({ id: z.string(), action: z.string(), reason: z.string() })), next: z.string().nullable(), total: z.number() });
export const DecisionsAnswer = z.object({ region: z.string(), decisions: z.array(z.looseObject({})) });
export const ClusterAnswer = z.object({
  region: z.string(),
  regions: z.array(z.union([
    z.object({ region: z.string(), url: z.string(), ok: z.literal(true), ms: z.number(), status: StatusAnswer }),
    z.object({ region: z.string(), url: z.string(), ok: z.literal(false), ms: z.number(), error: z.string() }),
  ])),
});
export const ClusterConflictsAnswer = z.looseObject({ conflicts: z.array(z.looseObject({ region: z.string() })), truncated: z.boolean(), regions: z.array(z.looseObject({ region: z.string(), ok: z.boolean() })) });
export const ClusterDecisionsAnswer = z.looseObject({ decisions: z.array(z.looseObject({})), regions: z.array(z.looseObject({ region: z.string(), ok: z.boolean() })) });
export const RestoreAnswer = z.looseObject({ keyspace: z.string(), partition: z.number(), source: z.string() });

// ---- the route table ----
type Media = 'application/json' | 'application/octet-stream' | 'text/plain' | 'text/html';
export interface ApiResponse { readonly description: string; readonly schema?: z.ZodType; readonly media?: Media; readonly headers?: readonly string[] }
export interface ApiRoute {
  readonly method: 'get' | 'put' | 'post' | 'delete' | 'patch';
  /** OpenAPI form: `{name}` for a path parameter. */
  readonly path: string;
  readonly summary: string;
  readonly query?: readonly string[];
  readonly requestHeaders?: readonly string[];
  readonly body?: { readonly schema?: z.ZodType; readonly media: Media | 'application/merge-patch+json' | '*/*' };
  readonly responses: Readonly<Record<number, ApiResponse>>;
}

const err = (description: string): ApiResponse => ({ description, schema: ErrorBody });
const KV_READ_ERRORS = { 400: err('bad key, session token or query'), 404: err('unknown keyspace, or no such key'), 503: err('session_stale, store unavailable, overloaded') };
const WRITE_HEADERS = ['etag', 'x-geogate-epoch', 'x-geogate-hlc', 'x-geogate-session'];
const WRITE_ERRORS = {
  307: { description: 'the partition is written at another region: Location names it', schema: ErrorBody, headers: ['location'] },
  400: err('bad key, body, header or ttl'), 404: err('unknown keyspace'), 409: err('operation (or expiry) not supported by the keyspace\'s resolver, or not a counter'),
  412: err('If-Match / If-None-Match failed'), 413: err('value over limits.valueBytesMax'), 422: err('Idempotency-Key used for another request'),
  503: { description: 'no write authority now, bootstrapping, store_reset, write_outcome_unknown, overloaded …; Retry-After', schema: ErrorBody, headers: ['retry-after'] },
};
const WRITE_REQ_HEADERS = ['if-match', 'if-none-match', 'idempotency-key', 'x-geogate-session'];

export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'get', path: '/v1/kv/{keyspace}/{key}', summary: 'Read a key (local)', requestHeaders: ['x-geogate-session'],
    responses: { 200: { description: 'the exact bytes, with the content type they were written with (x-geogate-expires-at: the absolute expiry, wall ms, when it has one)', media: 'application/octet-stream', headers: ['etag', 'x-geogate-partition', 'x-geogate-region', 'x-geogate-session'] }, ...KV_READ_ERRORS } },
  { method: 'put', path: '/v1/kv/{keyspace}/{key}', summary: 'Write a key (?ttl=SECONDS: it expires that long after the write; without it, it persists)', query: ['ttl'], requestHeaders: WRITE_REQ_HEADERS, body: { media: '*/*' },
    responses: { 200: { description: 'updated', schema: WriteAnswer, headers: WRITE_HEADERS }, 201: { description: 'created', schema: WriteAnswer, headers: WRITE_HEADERS }, ...WRITE_ERRORS } },
  { method: 'delete', path: '/v1/kv/{keyspace}/{key}', summary: 'Delete a key', requestHeaders: WRITE_REQ_HEADERS,
    responses: { 204: { description: 'deleted' }, ...WRITE_ERRORS, 404: err('unknown keyspace, or no such key') } },
  { method: 'patch', path: '/v1/kv/{keyspace}/{key}', summary: 'JSON merge patch (json-merge keyspaces)', requestHeaders: WRITE_REQ_HEADERS, body: { media: 'application/merge-patch+json' },
    responses: { 200: { description: 'updated', schema: WriteAnswer }, 201: { description: 'created', schema: WriteAnswer }, ...WRITE_ERRORS } },
  { method: 'post', path: '/v1/kv/{keyspace}/{key}/incr', summary: 'Add to this region\'s entry of a PN counter (counter keyspaces)', requestHeaders: WRITE_REQ_HEADERS, body: { schema: IncrBody, media: 'application/json' },
    responses: { 200: { description: 'updated', schema: WriteAnswer }, 201: { description: 'created', schema: WriteAnswer }, ...WRITE_ERRORS } },
  { method: 'post', path: '/v1/kv/{keyspace}/{key}/expire', summary: 'Set or remove the key\'s expiry, keeping its value (lww, source-wins and trigger keyspaces)', requestHeaders: WRITE_REQ_HEADERS, body: { schema: ExpireBody, media: 'application/json' },
    responses: { 200: { description: 'the new version; x-geogate-expires-at is its absolute expiry (wall ms), absent when it persists', schema: WriteAnswer, headers: WRITE_HEADERS }, ...WRITE_ERRORS, 404: err('unknown keyspace, or no such key (absent, deleted or expired)') } },
  { method: 'post', path: '/v1/kv/{keyspace}/{key}/add', summary: 'Add set members (set keyspaces)', requestHeaders: WRITE_REQ_HEADERS, body: { schema: MembersBody, media: 'application/json' },
    responses: { 200: { description: 'updated', schema: WriteAnswer }, 201: { description: 'created', schema: WriteAnswer }, ...WRITE_ERRORS } },
  { method: 'post', path: '/v1/kv/{keyspace}/{key}/remove', summary: 'Remove set members (set keyspaces)', requestHeaders: WRITE_REQ_HEADERS, body: { schema: MembersBody, media: 'application/json' },
    responses: { 200: { description: 'updated', schema: WriteAnswer }, 201: { description: 'created', schema: WriteAnswer }, ...WRITE_ERRORS } },
  { method: 'post', path: '/v1/kv/{keyspace}/_mget', summary: 'Read up to 100 keys (local)', requestHeaders: ['x-geogate-session'], body: { schema: MgetBody, media: 'application/json' },
    responses: { 200: { description: 'in the order asked', schema: MgetAnswer }, ...KV_READ_ERRORS, 413: err('the values are over 16 MiB together') } },
  { method: 'get', path: '/v1/kv/{keyspace}', summary: 'List the live keys of a keyspace, a page at a time', query: ['prefix', 'cursor', 'limit'], requestHeaders: ['x-geogate-session'],
    responses: { 200: { description: 'a page; next is null at the end', schema: ListAnswer }, ...KV_READ_ERRORS } },
  { method: 'get', path: '/healthz', summary: 'Liveness', responses: { 200: { description: 'the process answers', schema: HealthAnswer } } },
  { method: 'get', path: '/readyz', summary: 'Readiness (of one keyspace with ?keyspace=)', query: ['keyspace'],
    responses: { 200: { description: 'ready', schema: ReadinessAnswer }, 404: err('unknown keyspace'), 503: { description: 'not ready: failing names the checks', schema: ReadinessAnswer } } },
  { method: 'get', path: '/v1/status', summary: 'This region\'s view: keyspaces, partitions, store, links, ownership', responses: { 200: { description: 'status', schema: StatusAnswer }, 401: err('admin.protectReads without the token') } },
  { method: 'get', path: '/v1/decisions', summary: 'Ownership changes this region saw', responses: { 200: { description: 'decisions', schema: DecisionsAnswer }, 401: err('admin.protectReads without the token') } },
  { method: 'get', path: '/v1/conflicts', summary: 'The conflict journal, oldest first', query: ['keyspace', 'partition', 'type', 'after', 'since', 'atFrom', 'limit'],
    responses: { 200: { description: 'entries', schema: ConflictsAnswer }, 400: err('bad query'), 401: err('admin.protectReads without the token') } },
  { method: 'post', path: '/v1/conflicts/ack', summary: 'Acknowledge the journal up to an id', body: { schema: AckBody, media: 'application/json' },
    responses: { 200: { description: 'the cursor', schema: AckAnswer }, 400: err('bad body') } },
  { method: 'get', path: '/v1/conflicts/dead-letters', summary: 'Compensating actions given up on', query: ['after', 'limit'], responses: { 200: { description: 'dead letters', schema: DeadLettersAnswer } } },
  { method: 'get', path: '/v1/cluster', summary: 'Every region\'s /v1/status, asked by this region', query: ['timeoutMs'], responses: { 200: { description: 'one entry per region', schema: ClusterAnswer }, 503: err('too many cluster reads at once') } },
  { method: 'get', path: '/v1/cluster/conflicts', summary: 'Every region\'s journal merged and deduplicated', query: ['keyspace', 'partition', 'type', 'since', 'limit', 'timeoutMs'], responses: { 200: { description: 'conflicts', schema: ClusterConflictsAnswer } } },
  { method: 'get', path: '/v1/cluster/decisions', summary: 'Ownership changes cluster-wide, with the witness\'s reasons', query: ['limit', 'timeoutMs'], responses: { 200: { description: 'decisions', schema: ClusterDecisionsAnswer } } },
  { method: 'post', path: '/v1/admin/restore', summary: 'Merge a partition from a named source region', requestHeaders: ['authorization'], body: { schema: RestoreBody, media: 'application/json' },
    responses: { 200: { description: 'done', schema: RestoreAnswer }, 400: err('bad body'), 401: err('no or wrong admin token'), 404: err('admin disabled, or unknown keyspace') } },
  { method: 'get', path: '/metrics', summary: 'Prometheus text', responses: { 200: { description: 'metrics', media: 'text/plain' } } },
  { method: 'get', path: '/v1/openapi.json', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
];

/** The route of the table an answer belongs to (`path` as requested), or undefined. */
export function routeOf(method: string, path: string): ApiRoute | undefined {
  const m = method.toLowerCase();
  return API_ROUTES.find((r) => r.method === m && new RegExp(`^${r.path.replace(/\{key\}/, '.+').replace(/\{[a-z]+\}/g, '[^/]+')}$`).test(path)
    && !(r.path === '/v1/kv/{keyspace}/{key}' && /\/_mget$|\/(incr|add|remove|expire)$/.test(path) && m === 'post'));
}

/** The OpenAPI 3.1 document of the table. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of API_ROUTES) {
    const params = [
      ...[...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } })),
      ...(r.query ?? []).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
      ...(r.requestHeaders ?? []).map((name) => ({ name, in: 'header', required: false, schema: { type: 'string' } })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(r.responses)) {
      responses[status] = {
        description: res.description,
        ...(res.headers ? { headers: Object.fromEntries(res.headers.map((h) => [h, { schema: { type: 'string' } }])) } : {}),
        ...(res.schema ? { content: { 'application/json': { schema: z.toJSONSchema(res.schema, { target: 'draft-2020-12', io: 'output' }) } } }
          : res.media ? { content: { [res.media]: { schema: res.media === 'application/json' ? {} : { type: 'string' } } } } : {}),
      };
    }
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { [r.body.media]: { schema: r.body.schema ? z.toJSONSchema(r.body.schema, { target: 'draft-2020-12', io: 'input' }) : { type: 'string', format: 'binary' } } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'geogate', version, description: 'Geo-redundant active/active replication gateway for Redis (README.md, docs/).' },
    paths,
  };
}
