/**
 * TLS options for listeners and dialers, and the checks of the other side's certificate.
 * Listeners ask every client for a certificate but do not refuse one without (API clients
 * carry none): what needs a node's identity — a replication link, a witness vote — checks
 * it with `clientIdentityProblem` and refuses there, naming why. Dialers verify the chain
 * against the cluster CAs and check the identity the certificate names instead of the
 * hostname: peers are reached through relays and addresses the certificate need not name.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocket, type PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Server as NetServer, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { TlsMaterial } from './credentials.js';
import { identityProblem } from './identity.js';

export const TLS_MIN_VERSION = 'TLSv1.2';
/** The SNI name nodes dial each other with: a listener with a client-facing certificate answers it with the node's own. */
export const CLUSTER_SERVERNAME = 'cluster.geogate';

type ServerTlsOptions = SecureContextOptions & {
  requestCert: true; rejectUnauthorized: false;
  SNICallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
};

/**
 * Listener options. Client certificates are verified against the cluster CAs whichever
 * certificate is served. With `m.client`, clients get that certificate (the default, also
 * for clients that send no SNI) and dialers asking for CLUSTER_SERVERNAME the node's.
 * `current` is read at each handshake (a reload applies at once).
 */
export function serverTlsOptions(m: TlsMaterial, current: () => TlsMaterial | undefined = () => m): ServerTlsOptions {
  const served = m.client ?? m;
  const base: ServerTlsOptions = { cert: served.cert, key: served.key, ca: [...m.ca], minVersion: TLS_MIN_VERSION, requestCert: true as const, rejectUnauthorized: false as const };
  if (!m.client) return base;
  let cached: { from: TlsMaterial; ctx: SecureContext } | null = null;
  return {
    ...base,
    SNICallback: (servername, cb) => {
      const now = current() ?? m;
      if (servername !== CLUSTER_SERVERNAME || !now.client) return cb(null, undefined); // the default context
      if (cached?.from !== now) cached = { from: now, ctx: createSecureContext({ cert: now.cert, key: now.key, ca: [...now.ca], minVersion: TLS_MIN_VERSION }) };
      cb(null, cached.ctx);
    },
  };
}

/** Options for tls.connect / https / ws: our certificate, the CAs, and a check that the server names `identity`. */
export function dialTlsOptions(m: TlsMaterial, identity: string) {
  return {
    cert: m.cert, key: m.key, ca: [...m.ca], minVersion: TLS_MIN_VERSION, rejectUnauthorized: true, servername: CLUSTER_SERVERNAME,
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
      const problem = identityProblem(cert.subjectaltname, identity);
      return problem === null ? undefined : new PeerIdentityError(problem);
    },
  } as const;
}

/** The server's certificate does not name the node dialled. */
export class PeerIdentityError extends Error {
  override readonly name = 'PeerIdentityError';
  readonly code = 'ERR_GEOGATE_PEER_IDENTITY';
}

/** The socket of a request on a TLS listener (undefined on a plain one). */
export function tlsSocketOf(socket: Socket | undefined): TLSSocket | undefined {
  return socket && (socket as TLSSocket).encrypted ? (socket as TLSSocket) : undefined;
}

/** The certificate's subjectAltName when it chains to a cluster CA; else why it is refused. */
export function verifiedClientSan(socket: Socket | undefined): { san: string | undefined } | { problem: string } {
  const tls = tlsSocketOf(socket);
  if (!tls) return { problem: 'not a TLS connection' };
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { problem: 'no client certificate' };
  if (!tls.authorized) return { problem: `client certificate refused: ${String(tls.authorizationError)}` };
  return { san: cert.subjectaltname };
}

/** Null when the client presented a certificate of a cluster CA naming `identity`. */
export function clientIdentityProblem(socket: Socket | undefined, identity: string): string | null {
  const v = verifiedClientSan(socket);
  return 'problem' in v ? v.problem : identityProblem(v.san, identity);
}

/** A short, bounded label for a failed TLS handshake (metric label). */
export function tlsErrorReason(err: Error & { code?: string }): string {
  const text = `${err.code ?? ''} ${err.message}`;
  if (/http request/i.test(text)) return 'plaintext';
  if (/wrong version number|unknown protocol|unsupported protocol|version too low/i.test(text)) return 'protocol';
  if (/certificate/i.test(text)) return 'certificate';
  if (/ECONNRESET|socket hang up|timed out|ETIMEDOUT/i.test(text)) return 'reset';
  return 'other';
}

/** Seconds until a PEM certificate's notAfter (negative: expired); NaN when it cannot be parsed. */
export function certificateExpirySeconds(pem: string, nowMs: number): number {
  try {
    return (new Date(new X509Certificate(pem).validTo).getTime() - nowMs) / 1000;
  } catch {
    return Number.NaN;
  }
}

/** Counts (and logs once per reason) the TLS handshakes a listener refused: plaintext clients, bad versions. */
export function watchTlsErrors(server: NetServer, log: Logger, count: (reason: string) => void): void {
  const logged = new Set<string>();
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const reason = tlsErrorReason(err);
    count(reason);
    if (logged.has(reason)) return;
    logged.add(reason);
    log.warn({ reason, remote: socket.remoteAddress, err: err.message }, 'TLS handshake refused (logged once per reason; geogate_tls_handshake_failures_total counts them)');
  });
}
