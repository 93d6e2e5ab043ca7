/**
 * Request/response over the `ae` control topic: ids per sender, a timeout per attempt,
 * bounded retries with backoff (send refused, timeout, `busy`), a bounded number of
 * requests outstanding per peer, and byte accounting of every body sent and received.
 */
import { Packr } from 'msgpackr';
import type { Clock, TimerHandle } from '../../infra/clock.js';
import type { Logger } from '../../infra/log.js';
import { AE_TOPIC, parseMessage, parseReply, type AeRequest, type ErrorCode, type ReplyOf, type RequestOp } from './messages.js';
import type { AntiEntropyLimits } from './options.js';
import { AntiEntropyError, type AeLinks } from './types.js';

/** Bytes of the control-frame envelope around a body ({ t, v, topic } in msgpack). */
export const CONTROL_ENVELOPE_BYTES = 24;
const WAITERS_PER_PEER_MAX = 4096;

const sizer = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, variableMapSize: true, encodeUndefinedAsNil: true });

export function bodyBytes(body: unknown): number {
  return sizer.pack(body).byteLength + CONTROL_ENVELOPE_BYTES;
}

export interface ByteAccount {
  sent: number;
  received: number;
}

interface Pending {
  readonly peer: string;
  readonly op: RequestOp;
  readonly resolve: (body: Record<string, unknown>) => void;
  readonly reject: (err: AntiEntropyError) => void;
  readonly timer: TimerHandle;
}

type RequestBody<K extends RequestOp> = Omit<Extract<AeRequest, { op: K }>, 'id'>;

export class AeRpc {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly inflight = new Map<string, number>();
  private readonly waiters = new Map<string, (() => void)[]>();
  /** Totals per peer: bytes sent / received on the topic. */
  readonly totals = new Map<string, ByteAccount>();

  constructor(
    private readonly links: AeLinks,
    private readonly clock: Clock,
    private readonly limits: AntiEntropyLimits,
    private readonly log: Logger,
    private readonly onRequest: (peer: string, req: AeRequest, bytes: number) => void,
  ) {}

  /** Sends a request and resolves with its validated reply; retries, then throws AntiEntropyError. */
  /** `timeoutScale` multiplies the per-attempt timeout (requests whose work grows with their size). */
  async request<K extends RequestOp>(peer: string, body: RequestBody<K> & { op: K }, acct?: ByteAccount, timeoutScale = 1): Promise<ReplyOf<K>> {
    const op: K = body.op;
    let lastErr: AntiEntropyError | undefined;
    for (let attempt = 0; attempt <= this.limits.retriesMax; attempt++) {
      if (attempt > 0) await this.clock.sleep(this.limits.retryBackoffMs * 2 ** (attempt - 1));
      try {
        const raw = await this.once(peer, op, body, acct, this.limits.requestTimeoutMs * timeoutScale);
        const reply = parseReply(op, raw);
        if (!reply) throw new AntiEntropyError(peer, 'bad_reply', `malformed ${op} reply`);
        return reply;
      } catch (err) {
        if (!(err instanceof AntiEntropyError)) throw err;
        lastErr = err;
        if (!['busy', 'timeout', 'unreachable'].includes(err.code)) throw err;
      }
    }
    throw lastErr ?? new AntiEntropyError(peer, 'failed', `${op} failed`);
  }

  reply(peer: string, id: number, payload: Record<string, unknown>): number {
    return this.send(peer, { op: 'r', id, ...payload });
  }

  error(peer: string, id: number, code: ErrorCode, msg: string): void {
    this.send(peer, { op: 'e', id, code, msg: msg.slice(0, 200) });
  }

  /** Entry point for every `ae` body from a peer. Never throws. */
  handle(peer: string, body: unknown): void {
    const bytes = bodyBytes(body);
    this.account(peer).received += bytes;
    const msg = parseMessage(body);
    switch (msg.kind) {
      case 'request':
        return this.onRequest(peer, msg.req, bytes);
      case 'reply':
      case 'error': {
        const p = this.pending.get(msg.id);
        if (!p || p.peer !== peer) return void this.log.debug({ peer, id: msg.id }, 'anti-entropy reply for no pending request dropped');
        this.pending.delete(msg.id);
        p.timer.cancel();
        this.release(peer);
        if (msg.kind === 'reply') p.resolve({ ...msg.body, __bytes: bytes });
        else p.reject(new AntiEntropyError(peer, msg.code, `${p.op}: ${msg.code} ${msg.msg}`));
        return;
      }
      case 'invalid':
        this.log.warn({ peer, reason: msg.reason }, 'malformed anti-entropy message');
        if (msg.id !== null) this.error(peer, msg.id, 'bad_request', msg.reason);
    }
  }

  /** Fails every outstanding request (stop). */
  failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      p.timer.cancel();
      p.reject(new AntiEntropyError(p.peer, 'stopped', reason));
      this.pending.delete(id);
    }
    this.inflight.clear();
    for (const list of this.waiters.values()) for (const w of list.splice(0)) w();
  }

  private async once(peer: string, op: RequestOp, body: object, acct: ByteAccount | undefined, timeoutMs: number): Promise<Record<string, unknown>> {
    await this.acquire(peer);
    const id = this.nextId++;
    const full = { ...body, id };
    let sent: number;
    try {
      sent = this.send(peer, full);
    } catch (err) {
      this.release(peer);
      throw new AntiEntropyError(peer, 'too_large', `${op} not sent: ${(err as Error).message}`);
    }
    if (sent === 0) {
      this.release(peer);
      throw new AntiEntropyError(peer, 'unreachable', `${op} not sent: link down or send buffer full`);
    }
    if (acct) acct.sent += sent;
    const raw = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        if (!this.pending.delete(id)) return;
        this.release(peer);
        reject(new AntiEntropyError(peer, 'timeout', `${op} unanswered after ${timeoutMs} ms`));
      });
      this.pending.set(id, { peer, op, resolve, reject, timer });
    });
    if (acct) acct.received += Number(raw.__bytes ?? 0);
    return raw;
  }

  /** Sends one body; returns the bytes counted (0 when the link refused it). */
  private send(peer: string, body: Record<string, unknown>): number {
    const bytes = bodyBytes(body);
    if (bytes > this.limits.frameBytesMax) throw new RangeError(`anti-entropy body of ${bytes} bytes exceeds frameBytesMax ${this.limits.frameBytesMax}`);
    if (!this.links.sendControl(peer, AE_TOPIC, body)) return 0;
    this.account(peer).sent += bytes;
    return bytes;
  }

  private account(peer: string): ByteAccount {
    let a = this.totals.get(peer);
    if (!a) this.totals.set(peer, (a = { sent: 0, received: 0 }));
    return a;
  }

  private async acquire(peer: string): Promise<void> {
    const n = this.inflight.get(peer) ?? 0;
    if (n < this.limits.requestsInFlightMax) return void this.inflight.set(peer, n + 1);
    const list = this.waiters.get(peer) ?? [];
    if (list.length >= WAITERS_PER_PEER_MAX) throw new AntiEntropyError(peer, 'busy', 'too many requests waiting');
    this.waiters.set(peer, list);
    await new Promise<void>((resolve) => list.push(resolve));
    this.inflight.set(peer, (this.inflight.get(peer) ?? 0) + 1);
  }

  private release(peer: string): void {
    this.inflight.set(peer, Math.max(0, (this.inflight.get(peer) ?? 1) - 1));
    this.waiters.get(peer)?.shift()?.();
  }
}
