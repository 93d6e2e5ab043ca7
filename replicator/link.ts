/**
 * A `Transport` over one WebSocket: encodes and decodes frames with the codec, counts frames
 * and bytes, and closes the link with a reason on any bad input. Nothing a peer sends can
 * throw out of here.
 */
import type { WebSocket, RawData } from 'ws';
import type { Clock } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import { decodeFrame, encodeFrame, type Frame } from './codec.js';
import type { ReplicatorMetrics } from './metrics.js';

/** Why a link closed; also the `kind` label of the close metric. */
export type CloseKind = 'auth' | 'version' | 'protocol' | 'oversized' | 'replaced' | 'shutdown' | 'error' | 'peer' | 'timeout' | 'restart';

/** The seam the shipping logic talks to; tests substitute an in-memory pair. */
export interface Transport {
  /** Encodes and sends; returns the encoded size (0 when the link is closed). */
  send(frame: Frame): number;
  close(reason: string, kind?: CloseKind): void;
  /** Monotonic time of the last frame sent (heartbeats fill silences). */
  lastSentMs(): number;
  /** Bytes queued in the socket and not yet written. */
  bufferedBytes(): number;
}

/** A transport that also delivers frames and its own closing to one handler each. */
export interface FrameChannel extends Transport {
  /**
   * Routes received frames to `handler`; `null` holds them (in order, up to
   * `HELD_FRAMES_MAX`) until the next handler is set, so no frame is lost between the
   * handshake and the session.
   */
  setFrameHandler(handler: ((frame: Frame) => void) | null): void;
  onClosed(handler: (reason: string, kind: CloseKind) => void): void;
  isOpen(): boolean;
}

/** Frames held while no handler is set (between handshake steps); more closes the link. */
export const HELD_FRAMES_MAX = 1024;

const CLOSE_CODES: Record<CloseKind, number> = {
  auth: 4001, version: 4002, protocol: 4003, oversized: 1009, replaced: 4004,
  shutdown: 4005, error: 4006, peer: 4007, timeout: 4008, restart: 4009,
};

export interface WsLinkOptions {
  readonly frameBytesMax: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ReplicatorMetrics;
}

export class WsLink implements FrameChannel {
  /** Metric label; 'unknown' until the handshake names the peer. */
  peer = 'unknown';
  private handler: ((frame: Frame) => void) | null = null;
  private readonly held: Frame[] = [];
  private closedHandlers: ((reason: string, kind: CloseKind) => void)[] = [];
  private lastSent: number;
  private closed = false;

  constructor(private readonly ws: WebSocket, private readonly options: WsLinkOptions) {
    this.lastSent = options.clock.monoMs();
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('error', (err) => {
      const oversized = /max payload|too big/i.test(err.message);
      this.finish(err.message, oversized ? 'oversized' : 'error');
    });
    ws.on('close', (code, reason) => this.finish(`peer closed (${code}) ${reason.toString('utf8')}`.trim(), 'peer'));
  }

  setFrameHandler(handler: ((frame: Frame) => void) | null): void {
    this.handler = handler;
    while (this.handler === handler && handler && this.held.length > 0 && !this.closed) this.deliver(this.held.shift()!);
  }

  onClosed(handler: (reason: string, kind: CloseKind) => void): void {
    this.closedHandlers.push(handler);
  }

  isOpen(): boolean {
    return !this.closed;
  }

  send(frame: Frame): number {
    if (this.closed) return 0;
    const bytes = encodeFrame(frame, this.options.frameBytesMax);
    this.ws.send(bytes, { binary: true });
    this.lastSent = this.options.clock.monoMs();
    this.options.metrics.framesSent.inc({ peer: this.peer, type: frame.t });
    this.options.metrics.bytesSent.inc({ peer: this.peer, type: frame.t }, bytes.byteLength);
    return bytes.byteLength;
  }

  close(reason: string, kind: CloseKind = 'protocol'): void {
    if (this.closed) return;
    // A close reason must fit a control frame (123 bytes).
    const text = Buffer.from(reason, 'utf8').subarray(0, 120).toString('utf8');
    this.ws.close(CLOSE_CODES[kind], text);
    // Do not wait for the peer's close frame forever.
    const timer = this.options.clock.setTimer(1_000, () => this.ws.terminate());
    this.ws.once('close', () => timer.cancel());
    this.finish(reason, kind);
  }

  lastSentMs(): number {
    return this.lastSent;
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary || !Buffer.isBuffer(data)) return this.close('text or fragmented frame refused', 'protocol');
    const result = decodeFrame(data, this.options.frameBytesMax);
    if (!result.ok) {
      const kind = result.error.kind === 'version' ? 'version' : result.error.kind === 'oversized' ? 'oversized' : 'protocol';
      this.options.metrics.framesReceived.inc({ peer: this.peer, type: 'invalid' });
      return this.close(result.error.message, kind);
    }
    this.options.metrics.framesReceived.inc({ peer: this.peer, type: result.frame.t });
    this.options.metrics.bytesReceived.inc({ peer: this.peer, type: result.frame.t }, data.byteLength);
    if (this.handler && this.held.length === 0) return this.deliver(result.frame);
    if (this.held.length >= HELD_FRAMES_MAX) return this.close(`more than ${HELD_FRAMES_MAX} frames before the session started`, 'protocol');
    this.held.push(result.frame);
  }

  private deliver(frame: Frame): void {
    try {
      this.handler?.(frame);
    } catch (err) {
      this.options.log.error({ err, peer: this.peer }, 'frame handler failed');
      this.close(`frame handler failed: ${(err as Error).message}`, 'error');
    }
  }

  private finish(reason: string, kind: CloseKind): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      if (kind !== 'peer') this.ws.terminate();
    }
    this.options.metrics.linkCloses.inc({ peer: this.peer, kind });
    for (const handler of this.closedHandlers) handler(reason, kind);
  }
}
