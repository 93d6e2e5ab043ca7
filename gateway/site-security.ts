/**
 * The region's credentials and TLS, composed once at boot: the cluster secrets and admin
 * tokens (inline, file or environment), the listener (HTTPS when `tls` is set: API and
 * replication links on one port, a client certificate asked for but required only of links),
 * the links' dial and identity checks (mutual TLS: the peer's certificate must chain to a
 * cluster CA and name `geogate://region/<peer>`), the witness client's TLS. `reload()`
 * (SIGHUP, or a change of a credential file) reads every credential again: new handshakes use
 * them, established links stay.
 */
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { LinkTls } from '../replicator/options.js';
import {
  certificateExpirySeconds, Credentials, dialTlsOptions, regionIdentity, regionsOf, serverTlsOptions, verifiedClientSan, watchFiles, watchTlsErrors, WITNESS_IDENTITY,
} from '../security/index.js';
import type { GatewayConfig } from './config.js';

export interface SiteSecurity {
  readonly credentials: Credentials;
  /** Absent without `tls`. */
  readonly linkTls: LinkTls | undefined;
  /** The witness client's TLS options (absent without `tls`), and their version (bumped by a reload). */
  readonly witnessTls: { options: () => Record<string, unknown>; version: () => number } | undefined;
  readonly adminRefused: (reason: 'missing' | 'wrong') => void;
  listen(fetch: (req: Request) => Response | Promise<Response>, host: string, port: number): Promise<{ server: Server; port: number }>;
  /** Reads every credential again; false (and logged) when one cannot be read: the old ones stay. */
  reload(): boolean;
  /** Stops watching the credential files. */
  close(): void;
}

export function createSiteSecurity(config: GatewayConfig, baseDir: string, log: Logger, registry: Registry): SiteSecurity {
  const c = config.cluster;
  const a = config.admin;
  const credentials = new Credentials({
    secrets: c.secretFile !== undefined ? { file: c.secretFile } : c.secretEnv !== undefined ? { env: c.secretEnv } : { inline: c.secrets },
    adminTokens: a.tokenFile !== undefined ? { file: a.tokenFile } : a.tokenEnv !== undefined ? { env: a.tokenEnv } : { inline: a.tokens },
    tls: config.tls, baseDir,
  });
  const tlsFailures = new Counter({ name: 'geogate_tls_handshake_failures_total', help: 'TLS handshakes the listener refused, by reason (plaintext, protocol, certificate, reset, other)', labelNames: ['reason'], registers: [registry] });
  const adminFailures = new Counter({ name: 'geogate_admin_auth_failures_total', help: 'Requests refused for a missing or wrong admin token', labelNames: ['reason'], registers: [registry] });
  const reloads = new Counter({ name: 'geogate_credentials_reloads_total', help: 'Credential reloads (SIGHUP or a credential file changed), by result', labelNames: ['result'], registers: [registry] });
  if (config.tls) {
    new Gauge({
      name: 'geogate_tls_certificate_expiry_seconds', help: 'Seconds until this node\'s certificate expires (cert="node"; "client": the client-facing one); negative once expired',
      labelNames: ['cert'], registers: [registry],
      collect() {
        const m = credentials.tls();
        if (!m) return;
        this.set({ cert: 'node' }, certificateExpirySeconds(m.cert, Date.now()));
        if (m.client) this.set({ cert: 'client' }, certificateExpirySeconds(m.client.cert, Date.now()));
      },
    });
    const left = certificateExpirySeconds(credentials.tls()!.cert, Date.now());
    if (left <= 0) log.error({ certFile: config.tls.certFile }, 'this node\'s certificate has expired: its peers and the witness refuse it');
  }
  let version = 0;
  let server: Server | undefined;
  const tls = () => {
    const m = credentials.tls();
    if (!m) throw new Error('programmer error: TLS options asked for without tls configured');
    return m;
  };
  const linkTls: LinkTls | undefined = config.tls ? {
    dial: (peer) => ({ ...dialTlsOptions(tls(), regionIdentity(peer)) }),
    identify: (req) => {
      const v = verifiedClientSan(req.socket as Socket);
      return 'problem' in v ? v : { regions: regionsOf(v.san) };
    },
  } : undefined;
  const security: SiteSecurity = {
    credentials, linkTls,
    witnessTls: config.tls ? { options: () => ({ ...dialTlsOptions(tls(), WITNESS_IDENTITY) }), version: () => version } : undefined,
    adminRefused: (reason) => adminFailures.inc({ reason }),
    listen(fetch, host, port) {
      return new Promise((resolve, reject) => {
        const m = credentials.tls();
        const s = (m
          ? serve({ fetch, hostname: host, port, createServer: createHttpsServer, serverOptions: serverTlsOptions(m, () => credentials.tls()) }, (info) => resolve({ server: s, port: info.port }))
          : serve({ fetch, hostname: host, port }, (info) => resolve({ server: s, port: info.port }))) as Server;
        s.once('error', reject);
        if (m) watchTlsErrors(s, log, (reason) => tlsFailures.inc({ reason }));
        server = s;
      });
    },
    reload() {
      const before = credentials.snapshot();
      try {
        credentials.reload();
        const m = credentials.tls();
        if (m && server) (server as unknown as { setSecureContext(o: object): void }).setSecureContext(serverTlsOptions(m));
      } catch (err) {
        credentials.restore(before);
        reloads.inc({ result: 'failed' });
        log.error({ err: (err as Error).message }, 'credentials not reloaded: the old ones stay in use');
        return false;
      }
      version++;
      const m = credentials.tls();
      reloads.inc({ result: 'ok' });
      log.info({ secrets: credentials.secrets().length, adminTokens: credentials.adminTokens().length, caFiles: m?.ca.length ?? 0 }, 'credentials reloaded: new handshakes use them, established links stay');
      return true;
    },
    close() { stopWatching(); },
  };
  // reload on file change (credentials.watchMs; 0: SIGHUP only)
  const stopWatching = watchFiles(credentials.files(), config.credentials.watchMs, () => {
    log.info({ files: credentials.files() }, 'credential files changed: reloading');
    security.reload();
  });
  return security;
}
