/**
 * The region's HTTP surface: /v1/kv, /v1/status, /healthz, /readyz, /metrics, the status page
 * /ui. One onError maps typed
 * errors to JSON error bodies; a bound on requests in flight gives 503 instead of a queue.
 */
import { Hono } from 'hono';
import type { GatewayContext } from './context.js';
import { kvRoutes } from './kv-routes.js';
import { batchRoutes } from './batch-routes.js';
import { conflictRoutes } from './conflict-routes.js';
import { clusterRoutes } from './cluster-routes.js';
import { adminRoutes } from './admin-routes.js';
import { adminGuard } from './admin-guard.js';
import { judgeReadiness, type ReadinessInput } from './readiness.js';
import { uiRoutes } from './ui-routes.js';
import { API_VERSION, openApiDocument } from './api-schema.js';
import { GeogateError, NotFoundError, StoreUnavailableError, UnavailableError } from '../errors.js';
import { statusClassLabel } from '../metrics.js';

export const DECISIONS_SERVED_MAX = 1000;
/** Guarded by the admin token with `admin.protectReads` (hono paths). */
export const PROTECTED_READS = ['/v1/status', '/v1/conflicts', '/v1/conflicts/*', '/v1/decisions', '/metrics', '/v1/cluster', '/v1/cluster/*'] as const;

export function createApp(ctx: GatewayContext): Hono {
  const app = new Hono();
  const { metrics, log } = ctx;
  const inFlight = metrics.inFlightNow;
  // label children cached per (route, method[, status]): prom-client hashes labels on every lookup
  const counters = new Map<string, { inc(): void }>();
  const timers = new Map<string, { observe(v: number): void }>();
  const count = (route: string, method: string, status: number) => {
    const k = `${route} ${method} ${status}`;
    let child = counters.get(k);
    if (!child) counters.set(k, (child = metrics.requests.labels({ route, method, status: String(status) })));
    child.inc();
  };
  const time = (route: string, method: string, status: number, seconds: number) => {
    const statusClass = statusClassLabel(status);
    const k = `${route} ${method} ${statusClass}`;
    let child = timers.get(k);
    if (!child) timers.set(k, (child = metrics.latency.labels({ route, method, status_class: statusClass })));
    child.observe(seconds);
  };

  app.use('*', async (c, next) => {
    if (inFlight.value >= ctx.config.limits.requestsInFlightMax) {
      throw new UnavailableError(`more than ${ctx.config.limits.requestsInFlightMax} requests in flight (limits.requestsInFlightMax)`, 'overloaded', 1);
    }
    inFlight.value++;
    const t0 = performance.now();
    try {
      await next();
    } finally {
      inFlight.value--;
      const route = routeLabel(c.req.path);
      const seconds = (performance.now() - t0) / 1000;
      const method = methodLabel(c.req.method);
      count(route, method, c.res.status);
      time(route, method, c.res.status, seconds);
      if (log.isLevelEnabled('debug')) log.debug({ method: c.req.method, path: c.req.path, status: c.res.status, ms: seconds * 1000 }, 'request');
    }
  });

  // admin.protectReads: the operator's read endpoints need the admin token too
  if (ctx.config.admin.protectReads) {
    const guard = adminGuard({ tokens: () => ctx.adminTokens(), onRefused: (reason) => ctx.onAdminRefused?.(reason) });
    for (const path of PROTECTED_READS) app.use(path, guard);
  }

  app.route('/v1/kv', batchRoutes(ctx)); // _mget and listing first: /:keyspace/_mget is not a key
  app.route('/v1/kv', kvRoutes(ctx));
  app.route('/v1/conflicts', conflictRoutes(ctx.conflicts));
  app.route('/v1/admin', adminRoutes(ctx));
  app.route('/v1/cluster', clusterRoutes(ctx, () => status(ctx)));

  // liveness: the process answers (Redis, links and leases are /readyz's business)
  app.get('/healthz', (c) => c.json({ ok: true, region: ctx.config.region }));
  // readiness: this region can take the writes it should (readiness.ts)
  app.get('/readyz', async (c) => {
    const keyspace = c.req.query('keyspace');
    if (keyspace !== undefined && !ctx.keyspaces.has(keyspace)) throw new NotFoundError(`unknown keyspace "${keyspace}"`, 'unknown_keyspace');
    const r = judgeReadiness({ ...(await status(ctx)), witness: ctx.config.witness !== undefined } as unknown as ReadinessInput, keyspace);
    return c.json(r, r.ready ? 200 : 503);
  });

  const toUi = (url: string) => `/ui${new URL(url).search}`;
  app.get('/', (c) => c.redirect(toUi(c.req.url), 302));
  app.get('/ui/', (c) => c.redirect(toUi(c.req.url), 301));
  app.route('/ui', uiRoutes());

  app.get('/v1/status', async (c) => c.json(await status(ctx)));
  const openApi = openApiDocument(API_VERSION);
  app.get('/v1/openapi.json', (c) => c.json(openApi));
  app.get('/v1/decisions', (c) => c.json({ region: ctx.config.region, decisions: ctx.decisions(DECISIONS_SERVED_MAX) }));

  app.get('/metrics', async (c) => {
    c.header('content-type', metrics.registry.contentType);
    const role = (await ctx.roleMetrics?.()) ?? '';
    return c.body(`${await metrics.registry.metrics()}${role ? `\n${role}` : ''}`);
  });

  app.notFound((c) => c.json({ error: { code: 'no_route', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.onError((err, c) => {
    const e = toGeogateError(err);
    if (e.status >= 500 && !(e instanceof UnavailableError)) log.error({ err, path: c.req.path, method: c.req.method }, 'request failed');
    else if (e instanceof StoreUnavailableError) {
      metrics.storeErrors.inc({ kind: 'unavailable' });
      log.warn({ path: c.req.path, err: e.message }, 'store unavailable');
    }
    for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
    return c.json({ error: { code: e.code, message: e.message } }, e.status as 400);
  });

  return app;
}

function toGeogateError(err: Error): GeogateError {
  if (err instanceof GeogateError) return err;
  return new GeogateError(`internal error: ${err.message}`, 500, 'internal');
}

const ROUTES = new Set(['/v1/openapi.json', '/v1/status', '/healthz', '/readyz', '/metrics', '/v1/decisions', '/v1/conflicts', '/v1/admin/restore', '/v1/cluster', '/v1/cluster/conflicts', '/v1/cluster/decisions']);
const METHODS = new Set(['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']);

/** Metric labels come from a fixed set: client-chosen paths and methods never grow the label space. */
function routeLabel(path: string): string {
  if (path.startsWith('/v1/kv/')) {
    const rest = path.slice('/v1/kv/'.length);
    if (!rest.includes('/')) return '/v1/kv/:keyspace';
    return rest.endsWith('/_mget') && rest.indexOf('/') === rest.length - '/_mget'.length ? '/v1/kv/:keyspace/_mget' : '/v1/kv/:keyspace/:key';
  }
  if (path === '/ui' || path.startsWith('/ui/')) return '/ui';
  return ROUTES.has(path) ? path : 'other';
}

function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

async function status(ctx: GatewayContext): Promise<Record<string, unknown>> {
  let store: Record<string, unknown>;
  try {
    store = { ok: true, pingMs: Math.round((await ctx.store.ping()) * 100) / 100 };
  } catch (err) {
    store = { ok: false, error: (err as Error).message };
  }
  const keyspaces = [...ctx.keyspaces.values()].map((ks) => {
    const map = ctx.maps.get(ks.name)!;
    return {
      name: ks.name, writes: ks.writes, onSplit: ks.onSplit, resolver: ks.resolver,
      partitions: Array.from({ length: ks.partitions }, (_, p) => {
        // 'unknown': the owner has not been heard since start; what is remembered is no answer
        const state = ctx.authority.partitionState(ks, p);
        const known = state !== 'unknown';
        return {
          partition: p, name: map.partitionName(p),
          nodes: map.nodeList(p).map((n) => (n.replication === 'sync' ? `${n.region}(sync)` : n.region)),
          active: known ? ctx.authority.activeRegion(ks, p) ?? null : null,
          epoch: known ? ctx.authority.currentEpoch?.(ks, p) ?? 0 : null,
          state,
        };
      }),
    };
  });
  return { region: ctx.config.region, cluster: ctx.config.cluster.id, publicUrl: ctx.config.publicUrl ?? null, store, keyspaces, ...(await ctx.statusExtras()) };
}
