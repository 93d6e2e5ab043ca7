import { Agent, request as httpsRequest } from 'node:https';
import type { z } from 'zod';
import { signRequest } from './auth.js';
import { WitnessHttpError, WitnessUnreachableError } from './errors.js';
import { settingsDigest, SettingsMismatchError, voterSettings, type SharedSettings } from './shared-settings.js';
import {
  PROTOCOL_VERSION, SETTINGS_HEADER, SETTINGS_MISMATCH_STATUS, helloReplySchema, confirmReplySchema, grantBatchReplySchema, grantReplySchema, heartbeatReplySchema,
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
  /** The signing secret, or a function read at every request (rotation: the first of the cluster secrets). */
  readonly secret: string | (() => string);
  /**
   * For an https:// witness: TLS options (this region's certificate and key, the cluster CAs,
   * the check that the server is the witness), read whenever they change (`tlsVersion`).
   */
  readonly tls?: () => Record<string, unknown>;
  /** Bumped when the TLS options change (a reload): a new connection pool is made. */
  readonly tlsVersion?: () => number;
  readonly timeoutMs?: number;
  /** Wall clock for request timestamps (default Date.now via the caller's clock). */
  readonly nowMs: () => number;
  /**
   * The region's shared settings: sent once (hello) before its first request and again after
   * a refusal; every request carries their digest. Absent: looked up in `registerRegionSettings`
   * by witness URL and the request's `from`; none there: requests go without (tools, tests).
   */
  readonly settings?: RegionSettings;
}

export interface RegionSettings {
  readonly settings: SharedSettings;
  /** Told every refusal (the witness's message, naming the field) and, with null, when they agree again. */
  readonly onMismatch?: (message: string | null) => void;
}

/*
 * The gateway's ownership code builds its WitnessClient without settings
 * (gateway/ownership/witness-authority.ts); the gateway registers them here at boot, keyed by
 * witness URL and region, until that constructor passes `settings` itself.
 */
const registered = new Map<string, RegionSettings>();
const registryKey = (url: string, region: string) => `${url.replace(/\/+$/, '')}|${region}`;

/** Settings the WitnessClient of `region` towards `witnessUrl` sends; returns the unregister function. */
export function registerRegionSettings(witnessUrl: string, region: string, settings: RegionSettings): () => void {
  const key = registryKey(witnessUrl, region);
  registered.set(key, settings);
  return () => { if (registered.get(key) === settings) registered.delete(key); };
}

/** Signed HTTP calls to the witness, each bounded by `timeoutMs`. */
export class WitnessClient implements WitnessApi {
  private readonly base: string;
  private readonly timeoutMs: number;
  /** Digest the witness accepted (hello answered with it), per region. */
  private readonly agreed = new Map<string, string>();
  private readonly mismatched = new Set<string>();
  private agent: { agent: Agent; version: number } | null = null;

  constructor(private readonly o: WitnessClientOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.timeoutMs = o.timeoutMs ?? DEFAULT_WITNESS_TIMEOUT_MS;
  }

  confirm(req: ConfirmRequest): Promise<ConfirmReply> {
    return this.regionCall(req.from, '/v1/confirm', req, confirmReplySchema);
  }
  grant(req: GrantRequest): Promise<GrantReply> {
    return this.regionCall(req.from, '/v1/grant', req, grantReplySchema);
  }
  async grants(reqs: readonly GrantRequest[]): Promise<GrantReply[]> {
    const from = reqs[0]?.from;
    if (from === undefined) return [];
    const reply = await this.regionCall(from, '/v1/grants', { v: PROTOCOL_VERSION, from, items: reqs }, grantBatchReplySchema);
    if (reply.items.length !== reqs.length) throw new WitnessHttpError(200, `bad reply: ${reply.items.length} answers to ${reqs.length} grants`);
    return reply.items;
  }
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply> {
    return this.regionCall(req.from, '/v1/heartbeat', req, heartbeatReplySchema);
  }
  status(): Promise<unknown> {
    return this.call('GET', '/v1/status', undefined, null);
  }
  decisions(): Promise<unknown> {
    return this.call('GET', '/v1/decisions', undefined, null);
  }

  /**
   * A request of region `from`: its settings go first when the witness has not accepted them
   * yet; a refusal (409) throws `SettingsMismatchError` with the witness's message and is
   * reported once per message to `onMismatch`.
   */
  private async regionCall<T>(from: string, path: string, payload: unknown, schema: z.ZodType<T>): Promise<T> {
    const mine = this.o.settings ?? registered.get(registryKey(this.base, from));
    if (!mine) return this.call('POST', path, payload, schema);
    const settings = voterSettings(mine.settings);
    const digest = settingsDigest(settings);
    try {
      if (this.agreed.get(from) !== digest) {
        await this.call('POST', '/v1/hello', { v: PROTOCOL_VERSION, from, settings }, helloReplySchema);
        this.agreed.set(from, digest);
        this.mismatched.delete(from);
        mine.onMismatch?.(null);
      }
      return await this.call('POST', path, payload, schema, digest);
    } catch (err) {
      if (!(err instanceof SettingsMismatchError)) throw err;
      this.agreed.delete(from);
      this.mismatched.add(from);
      mine.onMismatch?.(err.message);
      throw err;
    }
  }

  private async call<T>(method: string, path: string, payload: unknown, schema: z.ZodType<T> | null, digest?: string): Promise<T> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const secret = typeof this.o.secret === 'string' ? this.o.secret : this.o.secret();
    const headers: Record<string, string> = { ...signRequest(secret, method, path, body, this.o.nowMs()) };
    if (digest) headers[SETTINGS_HEADER] = digest;
    if (body) headers['content-type'] = 'application/json';
    let res: { status: number; ok: boolean; text: string };
    try {
      res = this.o.tls && this.base.startsWith('https:')
        ? await this.tlsCall(method, path, headers, body)
        : await fetchText(this.base + path, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new WitnessUnreachableError(`${method} ${path}: ${(err as Error).message}`);
    }
    const text = res.text;
    if (res.status === SETTINGS_MISMATCH_STATUS) throw new SettingsMismatchError(mismatchMessage(text));
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

  /** One request over mutual TLS, bounded by timeoutMs (node:https: fetch takes no client certificate). */
  private tlsCall(method: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; ok: boolean; text: string }> {
    const version = this.o.tlsVersion?.() ?? 0;
    if (!this.agent || this.agent.version !== version) {
      this.agent?.agent.destroy();
      this.agent = { agent: new Agent({ keepAlive: true, maxSockets: 16, ...this.o.tls!() }), version };
    }
    const agent = this.agent.agent;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(this.base + path, { method, headers: { ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > REPLY_BYTES_MAX) req.destroy(new Error(`reply over ${REPLY_BYTES_MAX} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => { clearTimeout(timer); const status = res.statusCode ?? 0; resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') }); });
        res.on('error', (err) => { clearTimeout(timer); reject(err); });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.timeoutMs} ms`)));
      req.on('error', (err) => { clearTimeout(timer); reject(err); });
      req.end(body || undefined);
    });
  }

  /** Closes the TLS connection pool (the plain path keeps none of its own). */
  close(): void {
    this.agent?.agent.destroy();
    this.agent = null;
  }
}

/** The most a witness reply may hold over TLS (decisions are the largest). */
export const REPLY_BYTES_MAX = 16 * 1024 * 1024;

async function fetchText(url: string, init: RequestInit): Promise<{ status: number; ok: boolean; text: string }> {
  const res = await fetch(url, init);
  return { status: res.status, ok: res.ok, text: await res.text() };
}

function mismatchMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') return `witness refused: ${message.slice(0, 2000)}`;
  } catch { /* not JSON */ }
  return `witness refused the region's settings: ${text.slice(0, 300)}`;
}
