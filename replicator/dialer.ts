/**
 * Keeps one outgoing link to a peer alive: dials `<url>/v1/replication`, hands the open
 * socket to `connect` (handshake + session; resolves when the link ends), then re-dials
 * after a bounded, jittered exponential backoff. The delay is bounded by `backoff.maxMs`;
 * attempts never stop while the replicator runs (a peer may come back after hours), and
 * there is at most one attempt in progress per peer.
 */
import { WebSocket } from 'ws';
import type { Clock, TimerHandle } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import { backoffDelayMs, backoffFor, type BackoffOptions } from './backoff.js';
import { REPLICATION_PATH } from './server.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export interface DialerOptions {
  readonly url: string;
  /**
   * Every URL the peer region answers at (its instances; `url` among them or not): a dial
   * that fails or is refused (an instance that is not its region's coordinator answers 503)
   * moves on to the next at once; a round of them all failing backs off.
   */
  readonly urls?: readonly string[];
  readonly frameBytesMax: number;
  readonly connectTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  /** Runs the link on an open socket; resolves when it closed, true if it got established. */
  readonly connect: (ws: WebSocket) => Promise<boolean>;
  readonly onState: (state: 'connecting' | 'backoff') => void;
  /**
   * For `https://`/`wss://` peers: TLS options of each dial (our certificate, the cluster
   * CAs, the check of the peer's identity), read at every dial so a reload applies to the next.
   */
  readonly tls?: (() => Record<string, unknown>) | undefined;
  /** The peer's certificate was refused (wrong CA, expired, naming another node): logged once per message until a link opens. */
  readonly onCertificateRefused?: (message: string) => void;
}

/** TLS errors of a dial that say the peer's certificate was refused (not a network failure). */
export function isCertificateError(err: Error & { code?: string }): boolean {
  return err.name === 'PeerIdentityError' || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/i.test(err.code ?? '') || /certificate/i.test(err.message);
}

export function replicationUrl(base: string): string {
  const url = new URL(base);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.pathname = url.pathname.replace(/\/+$/, '') + REPLICATION_PATH;
  return url.toString();
}

export class PeerDialer {
  private attempt = 0;
  private timer: TimerHandle | null = null;
  private socket: WebSocket | null = null;
  private stopped = true;
  private certificateLogged: string | null = null;

  constructor(private readonly options: DialerOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.socket?.terminate();
    this.socket = null;
  }

  /** The last attempt never opened a connection (the peer is down or unreachable). */
  private unreachable = false;

  /** Index in `urls` of the next dial, and how many URLs failed in a row since the last link. */
  private urlIndex = 0;
  private failedInRound = 0;
  /** Dials refused because the instance was not its region's coordinator. */
  refusedNotCoordinator = 0;

  private urls(): readonly string[] {
    return this.options.urls && this.options.urls.length > 0 ? this.options.urls : [this.options.url];
  }

  /** The URL the next (or current) dial goes to. */
  currentUrl(): string {
    const urls = this.urls();
    return urls[this.urlIndex % urls.length]!;
  }

  /** Backoff attempts since the last established link. */
  attempts(): number {
    return this.attempt;
  }

  private dial(): void {
    if (this.stopped) return;
    this.options.onState('connecting');
    const target = this.currentUrl();
    const ws = new WebSocket(replicationUrl(target), {
      maxPayload: this.options.frameBytesMax,
      perMessageDeflate: false,
      handshakeTimeout: this.options.connectTimeoutMs,
      ...(this.options.tls?.() ?? {}),
    });
    this.socket = ws;
    let settled = false;
    let opened = false;
    const retry = (established: boolean): void => {
      if (settled) return;
      settled = true;
      if (this.socket === ws) this.socket = null;
      if (established) { this.failedInRound = 0; this.attempt = 0; this.scheduleRetry(); return; }
      // the next instance of the peer region at once; a whole round failed: back off
      this.urlIndex = (this.urlIndex + 1) % this.urls().length;
      this.failedInRound++;
      if (this.failedInRound < this.urls().length) { this.dial(); return; }
      this.failedInRound = 0;
      this.attempt++;
      this.unreachable = !opened;
      this.scheduleRetry();
    };
    ws.once('open', () => {
      opened = true;
      this.certificateLogged = null;
      this.options.connect(ws).then(retry, (err: unknown) => {
        this.options.log.error({ err }, 'link failed');
        retry(false);
      });
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (ws.readyState === WebSocket.OPEN) return;
      if (isCertificateError(err)) {
        this.options.onCertificateRefused?.(err.message);
        if (this.certificateLogged !== err.message) this.options.log.warn({ err: err.message, code: err.code }, 'dial refused: the peer\'s TLS certificate is not accepted (logged once until a link opens)');
        this.certificateLogged = err.message;
      } else if (/Unexpected server response: 403/.test(err.message)) {
        this.options.onCertificateRefused?.('the peer refused our certificate (403)');
        if (this.certificateLogged !== err.message) this.options.log.warn({ err: err.message }, 'dial refused by the peer: it does not accept our certificate (its log names why; logged once until a link opens)');
        this.certificateLogged = err.message;
      } else if (/Unexpected server response: 503/.test(err.message)) {
        this.refusedNotCoordinator++;
        this.options.log.info({ url: target, next: this.urls().length > 1 ? this.urls()[(this.urlIndex + 1) % this.urls().length] : null }, 'dial refused: that instance is not its region\'s coordinator (or is overloaded); trying the next URL');
      } else this.options.log.debug({ err: err.message, url: target }, 'dial failed');
    });
    ws.once('close', () => {
      if (!opened) retry(false); // closed before it ever opened
    });
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delayMs = backoffDelayMs(Math.max(0, this.attempt - 1), backoffFor(this.options.backoff, this.unreachable), this.options.random);
    this.options.onState('backoff');
    this.timer = this.options.clock.setTimer(delayMs, () => {
      this.timer = null;
      this.dial();
    });
  }
}
