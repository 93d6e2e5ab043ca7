import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { realClock, type Clock } from '../infra/clock.js';
import { createLogger, type Logger } from '../infra/log.js';
import { RequestVerifier } from './auth.js';
import { loadWitnessConfig, type WitnessConfig } from './config.js';
import { AuthError, BadRequestError, OverloadedError, StateFileMissingError } from './errors.js';
import { createWitnessMetrics, type WitnessMetrics } from './metrics.js';
import { Counter, Gauge } from 'prom-client';
import { SettingsGuard } from './settings-guard.js';
import { SettingsMismatchError, witnessSettings } from './shared-settings.js';
import { confirmRequestSchema, helloRequestSchema, PROTOCOL_VERSION, SETTINGS_HEADER, SETTINGS_MISMATCH_STATUS, grantBatchRequestSchema, grantRequestSchema, heartbeatRequestSchema } from './protocol.js';
import { WitnessService } from './service.js';
import { StateFile } from './state-file.js';
import { buildTopology } from './topology.js';
import { WitnessCore } from './witness-core.js';
import { bearerToken, certificateExpirySeconds, clientIdentityProblem, Credentials, regionIdentity, serverTlsOptions, tokenAccepted, watchFiles, watchTlsErrors } from '../security/index.js';

type Env = { Variables: { body: string }; Bindings: Partial<HttpBindings> };

/** Reads that an operator may make with the admin token instead of a signed request. */
const TOKEN_READS = new Set(['/v1/status', '/v1/decisions']);

export interface WitnessAppDeps {
  readonly config: WitnessConfig;
  readonly service: WitnessService;
  readonly metrics: WitnessMetrics;
  readonly clock: Clock;
  readonly log: Logger;
  /** Secrets and admin tokens read at every request (reloadable); default: the config's. */
  readonly credentials?: Pick<Credentials, 'secrets' | 'adminTokens'>;
}

/** The witness's HTTP API (tests drive it through `app.request()`). */
export function createWitnessApp(d: WitnessAppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const creds = d.credentials ?? { secrets: () => d.config.cluster.secrets, adminTokens: () => d.config.admin.tokens };
  const verifier = new RequestVerifier(() => creds.secrets(), d.config.authSkewMs, d.config.replayCacheMax);
  /** True when the request carries an accepted admin token; throws AuthError for a wrong one. */
  const tokenGiven = (c: Context<Env>): boolean => {
    const given = bearerToken(c.req.header('authorization'));
    if (given === undefined) return false;
    if (!tokenAccepted(given, creds.adminTokens())) throw new AuthError('wrong admin token');
    return true;
  };
  const refusedCerts = new Set<string>();
  const core = d.service.core;
  const settings = new SettingsGuard(witnessSettings(d.config), d.log, d.metrics.registry);

  app.onError((err, c) => {
    if (err instanceof CertificateRefusedError) {
      d.metrics.authFailures.inc({ reason: 'certificate' });
      return c.json({ error: err.name, message: err.message }, 403);
    }
    if (err instanceof AuthError) {
      d.metrics.authFailures.inc({ reason: err.message.slice(0, 40) });
      return c.json({ error: err.name, message: err.message }, 401);
    }
    if (err instanceof BadRequestError) return c.json({ error: err.name, message: err.message }, 400);
    if (err instanceof SettingsMismatchError) return c.json({ error: err.name, message: err.message, digest: settings.digest }, SETTINGS_MISMATCH_STATUS);
    if (err instanceof OverloadedError) {
      c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      return c.json({ error: err.name, message: err.message }, 503);
    }
    d.log.error({ err }, 'witness request failed');
    return c.json({ error: 'InternalError', message: 'internal error' }, 500);
  });

  app.get('/healthz', (c) => c.json({ ok: true, quiet: core.quietRemainingMs(d.clock.monoMs()) > 0 }));
  if (d.config.admin.protectReads) {
    app.use('/metrics', async (c, next) => {
      if (!tokenGiven(c)) throw new AuthError('/metrics needs the admin token (admin.protectReads)');
      await next();
    });
  }
  app.get('/metrics', async (c) => c.text(await d.metrics.registry.metrics(), 200, { 'content-type': d.metrics.registry.contentType }));

  app.use('/v1/*', bodyLimit({ maxSize: d.config.bodyBytesMax, onError: (c) => c.json({ error: 'BodyTooLarge', message: `body over ${d.config.bodyBytesMax} bytes` }, 413) }));
  app.use('/v1/*', async (c, next) => {
    const body = c.req.method === 'GET' ? '' : await c.req.text();
    c.set('body', body);
    // an operator reads status and decisions with the admin token; regions sign
    if (c.req.method === 'GET' && TOKEN_READS.has(c.req.path) && tokenGiven(c)) return next();
    verifier.verify(c.req.method, c.req.path, (h) => c.req.header(h), body, d.clock.nowMs());
    // over TLS a vote counts only from a certificate of the cluster CA naming its region
    if (d.config.tls && c.req.method === 'POST') {
      const from = senderOf(body);
      const problem = clientIdentityProblem(c.env?.incoming?.socket as Socket | undefined, regionIdentity(from));
      if (problem !== null) {
        if (!refusedCerts.has(`${from} ${problem}`)) {
          refusedCerts.add(`${from} ${problem}`);
          if (refusedCerts.size > 1000) refusedCerts.clear();
          d.log.warn({ region: from, path: c.req.path, problem }, 'witness request refused: client certificate (logged once per region and reason; geogate_witness_auth_failures_total{reason="certificate"})');
        }
        throw new CertificateRefusedError(`request of region ${from} refused: ${problem}`);
      }
    }
    // a region's requests carry its settings digest: one that differs is refused (settings-guard.ts)
    if (c.req.method === 'POST' && c.req.path !== '/v1/hello') settings.check(senderOf(body), c.req.header(SETTINGS_HEADER));
    await next();
  });

  app.get('/v1/status', (c) => {
    const now = d.clock.monoMs();
    return c.json({
      quietRemainingMs: core.quietRemainingMs(now),
      owners: core.ownerEntries(),
      promises: core.promiseEntries(now),
      heard: core.heard(now),
      viable: core.viable(now),
      terms: core.termEntries(),
      decisions: core.decisions.recent(20),
    });
  });
  app.get('/v1/decisions', (c) => c.json({ decisions: core.decisions.recent() }));
  app.post('/v1/hello', (c) => {
    const req = parse(helloRequestSchema, c.get('body'));
    return c.json({ v: PROTOCOL_VERSION, digest: settings.hello(req.from, req.settings) });
  });
  app.post('/v1/confirm', (c) => c.json(d.service.confirm(parse(confirmRequestSchema, c.get('body')))));
  app.post('/v1/heartbeat', (c) => c.json(d.service.heartbeat(parse(heartbeatRequestSchema, c.get('body')))));
  app.post('/v1/grant', async (c) => c.json(await d.service.grant(parse(grantRequestSchema, c.get('body')))));
  app.post('/v1/grants', async (c) => c.json(await d.service.grantBatch(parse(grantBatchRequestSchema, c.get('body')))));
  return app;
}

/** A signed request whose TLS client certificate is missing, of another CA, or names another region (403). */
export class CertificateRefusedError extends Error {
  override readonly name = 'CertificateRefusedError';
}

/** The `from` of a request body, for naming it in a refusal (the body is validated later). */
function senderOf(body: string): string {
  try {
    const from = (JSON.parse(body) as { from?: unknown }).from;
    return typeof from === 'string' ? from.slice(0, 64) : '?';
  } catch {
    return '?';
  }
}

function parse<T>(schema: z.ZodType<T>, body: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new BadRequestError('body is not JSON');
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new BadRequestError(`${i?.path.join('.') || '(body)'}: ${i?.message ?? 'invalid'}`);
  }
  return r.data;
}

export interface WitnessStartOptions {
  /**
   * A new cluster: when the state file is missing, create it (durably) before serving.
   * Without it a missing state file is an error (`StateFileMissingError`). Ignored (with a
   * log line) when the state file exists.
   */
  readonly init?: boolean;
  /** Reloadable secrets and tokens (runWitness); default: the config's. */
  readonly credentials?: Pick<Credentials, 'secrets' | 'adminTokens'>;
}

/** Builds the witness from a parsed config: loads durable state, starts quiet. */
export async function createWitness(config: WitnessConfig, clock: Clock = realClock, log?: Logger, opts: WitnessStartOptions = {}) {
  const logger = log ?? createLogger({ component: 'witness', cluster: config.cluster.id }, config.logLevel);
  const stateFile = new StateFile(config.stateFile, config.cluster.id);
  const durable = await stateFile.load();
  if (!durable && !opts.init) throw new StateFileMissingError(config.stateFile);
  if (durable && opts.init) logger.info({ stateFile: config.stateFile }, 'init ignored: the state file exists, restoring it');
  const topology = buildTopology({ regions: config.cluster.regions, keyspaces: config.keyspaces, ...(config.weights ? { weights: config.weights } : {}) });
  const core = new WitnessCore(
    {
      topology, leaseMs: config.leaseMs, bootMonoMs: clock.monoMs(), regionSilenceMs: config.regionSilenceMs,
      minOwnershipChangeIntervalMs: config.minOwnershipChangeIntervalMs, decisionsMax: config.decisionsMax,
    },
    durable,
  );
  if (!durable) {
    await stateFile.save(core.snapshot());
    logger.warn({ stateFile: config.stateFile }, 'new cluster: witness state file created (init)');
  }
  const metrics = createWitnessMetrics();
  const service = new WitnessService(core, stateFile, clock, metrics, logger, config.grantQueueMax);
  const app = createWitnessApp({ config, service, metrics, clock, log: logger, ...(opts.credentials ? { credentials: opts.credentials } : {}) });
  logger.info({ stateFile: config.stateFile, restored: durable !== undefined, quietMs: config.leaseMs }, 'witness ready (quiet for leaseMs)');
  return { app, core, service, metrics, log: logger };
}

/** `geogate witness --config F [--init]`: serves the witness until `close()`; `reload()` (SIGHUP) reads the credentials again. */
export async function runWitness(configPath: string, opts: WitnessStartOptions = {}): Promise<{ url: string; reload(): boolean; close(): Promise<void> }> {
  const config = loadWitnessConfig(configPath);
  const credentials = witnessCredentials(config);
  const w = await createWitness(config, realClock, undefined, { ...opts, credentials });
  const tlsFailures = new Counter({ name: 'geogate_tls_handshake_failures_total', help: 'TLS handshakes the listener refused, by reason', labelNames: ['reason'], registers: [w.metrics.registry] });
  if (config.tls) {
    new Gauge({
      name: 'geogate_tls_certificate_expiry_seconds', help: 'Seconds until the witness\'s certificate expires (cert="node"; "client": the client-facing one); negative once expired',
      labelNames: ['cert'], registers: [w.metrics.registry],
      collect() {
        const m = credentials.tls();
        if (!m) return;
        this.set({ cert: 'node' }, certificateExpirySeconds(m.cert, Date.now()));
        if (m.client) this.set({ cert: 'client' }, certificateExpirySeconds(m.client.cert, Date.now()));
      },
    });
    if (certificateExpirySeconds(credentials.tls()!.cert, Date.now()) <= 0) w.log.error({ certFile: config.tls.certFile }, 'the witness\'s certificate has expired: the regions refuse it');
  }
  const m = credentials.tls();
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = m
      ? serve({ fetch: w.app.fetch, hostname: config.listen.host, port: config.listen.port, createServer: createHttpsServer, serverOptions: serverTlsOptions(m, () => credentials.tls()) }, () => resolve(s))
      : serve({ fetch: w.app.fetch, hostname: config.listen.host, port: config.listen.port }, () => resolve(s));
    s.once('error', reject);
    if (m) watchTlsErrors(s, w.log, (reason) => tlsFailures.inc({ reason }));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  const url = `${m ? 'https' : 'http'}://${config.listen.host}:${port}`;
  w.log.info({ url, tls: m !== undefined }, 'witness listening');
  const witness = {
    url,
    reload() {
      const before = credentials.snapshot();
      try {
        credentials.reload();
        const installed = credentials.tls();
        if (installed) (server as unknown as { setSecureContext(o: object): void }).setSecureContext(serverTlsOptions(installed));
      } catch (err) {
        credentials.restore(before);
        w.log.error({ err: (err as Error).message }, 'credentials not reloaded: the old ones stay in use');
        return false;
      }
      const next = credentials.tls();
      w.log.info({ secrets: credentials.secrets().length, caFiles: next?.ca.length ?? 0 }, 'credentials reloaded');
      return true;
    },
    close: () => {
      stopWatching();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  // reload on file change (credentials.watchMs; 0: SIGHUP only)
  const stopWatching = watchFiles(credentials.files(), config.credentials.watchMs, () => {
    w.log.info({ files: credentials.files() }, 'credential files changed: reloading');
    witness.reload();
  });
  return witness;
}

function witnessCredentials(config: WitnessConfig): Credentials {
  const c = config.cluster;
  const a = config.admin;
  return new Credentials({
    secrets: c.secretFile !== undefined ? { file: c.secretFile } : c.secretEnv !== undefined ? { env: c.secretEnv } : { inline: c.secrets },
    adminTokens: a.tokenFile !== undefined ? { file: a.tokenFile } : a.tokenEnv !== undefined ? { env: a.tokenEnv } : { inline: a.tokens },
    tls: config.tls, baseDir: config.baseDir,
  });
}
