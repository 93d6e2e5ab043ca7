import type { z } from 'zod';
import { signRequest } from './auth.js';
import { WitnessHttpError, WitnessUnreachableError } from './errors.js';
import {
  PROTOCOL_VERSION, confirmReplySchema, grantBatchReplySchema, grantReplySchema, heartbeatReplySchema,
  type ConfirmReply, type ConfirmRequest, type GrantReply, type GrantRequest, type HeartbeatReply, type HeartbeatRequest,
} from './protocol.js';

export const DEFAULT_WITNESS_TIMEOUT_MS = 500;

/** What a region needs from the witness (the HTTP client, or a fake in tests). */
export interface WitnessApi {
  confirm(req: ConfirmRequest): Promise<ConfirmReply>;
  grant(req: GrantRequest): Promise<GrantReply>;
  /** Several grants in one call (at most GRANTS_PER_CALL_MAX); replies in the same order. */
  grants?(reqs: readonly GrantRequest[]): Promise<GrantReply[]>;
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply>;
}

export interface WitnessClientOptions {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs?: number;
  /** Wall clock for request timestamps (default Date.now via the caller's clock). */
  readonly nowMs: () => number;
}

/** Signed HTTP calls to the witness, each bounded by `timeoutMs`. */
export class WitnessClient implements WitnessApi {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly o: WitnessClientOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.timeoutMs = o.timeoutMs ?? DEFAULT_WITNESS_TIMEOUT_MS;
  }

  confirm(req: ConfirmRequest): Promise<ConfirmReply> {
    return this.call('POST', '/v1/confirm', req, confirmReplySchema);
  }
  grant(req: GrantRequest): Promise<GrantReply> {
    return this.call('POST', '/v1/grant', req, grantReplySchema);
  }
  async grants(reqs: readonly GrantRequest[]): Promise<GrantReply[]> {
    const from = reqs[0]?.from;
    if (from === undefined) return [];
    const reply = await this.call('POST', '/v1/grants', { v: PROTOCOL_VERSION, from, items: reqs }, grantBatchReplySchema);
    if (reply.items.length !== reqs.length) throw new WitnessHttpError(200, `bad reply: ${reply.items.length} answers to ${reqs.length} grants`);
    return reply.items;
  }
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply> {
    return this.call('POST', '/v1/heartbeat', req, heartbeatReplySchema);
  }
  status(): Promise<unknown> {
    return this.call('GET', '/v1/status', undefined, null);
  }
  decisions(): Promise<unknown> {
    return this.call('GET', '/v1/decisions', undefined, null);
  }

  private async call<T>(method: string, path: string, payload: unknown, schema: z.ZodType<T> | null): Promise<T> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const headers: Record<string, string> = { ...signRequest(this.o.secret, method, path, body, this.o.nowMs()) };
    if (body) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new WitnessUnreachableError(`${method} ${path}: ${(err as Error).message}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new WitnessUnreachableError(`${method} ${path}: ${(err as Error).message}`);
    }
    if (!res.ok) throw new WitnessHttpError(res.status, text.slice(0, 300));
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new WitnessHttpError(res.status, 'reply is not JSON');
    }
    if (!schema) return raw as T;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new WitnessHttpError(res.status, `bad reply: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }
}
