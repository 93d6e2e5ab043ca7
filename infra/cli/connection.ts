/**
 * What every operator command shares: `--url` (a gateway; default the first region of
 * `geogate up`), `--ca`, `--token` / GEOGATE_ADMIN_TOKEN, `--json`, and the exit codes
 * (EXIT_OK, EXIT_PROBLEM: a region or the cluster has a problem or did not answer, EXIT_USAGE).
 */
import { requestJson, type CliHttpOptions } from './http-get.js';

export const DEFAULT_URL = 'http://127.0.0.1:7101';
export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

export const CONNECTION_OPTIONS = {
  url: { type: 'string', default: DEFAULT_URL },
  ca: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export interface Connection extends CliHttpOptions {
  readonly url: string;
  readonly json: boolean;
}

export function connectionOf(v: { url?: string | undefined; ca?: string | undefined; token?: string | undefined; json?: boolean | undefined }): Connection {
  const url = (v.url ?? DEFAULT_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--url must be an http:// or https:// URL, got "${url}"`);
  const token = v.token ?? process.env.GEOGATE_ADMIN_TOKEN;
  return { url, json: v.json === true, ...(v.ca ? { caFile: v.ca } : {}), ...(token ? { token } : {}) };
}

/** The same credentials towards another region's URL (from /v1/cluster). */
export function towards(c: Connection, url: string): Connection {
  return { ...c, url: url.replace(/\/+$/, '') };
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** A region or the cluster answered with an error or not at all; the message names it. */
export class ProblemError extends Error {
  override name = 'ProblemError';
}

type Json = Record<string, unknown>;

/** GET `path` at the connection's URL: the JSON body of a 2xx, else ProblemError naming the URL and the answer. */
export async function getOk(c: Connection, path: string, label = c.url): Promise<Json> {
  return ok(await requestJson('GET', c.url + path, c), 'GET', path, label);
}

export async function postOk(c: Connection, path: string, body: unknown, label = c.url): Promise<Json> {
  return ok(await requestJson('POST', c.url + path, c, body), 'POST', path, label);
}

function ok(res: { status: number; body: unknown }, method: string, path: string, label: string): Json {
  if (res.status >= 200 && res.status < 300 && res.body && typeof res.body === 'object') return res.body as Json;
  const e = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const why = e ? `${e.code}: ${e.message}` : String(res.body).slice(0, 200);
  throw new ProblemError(`${label}: ${method} ${path} answered HTTP ${res.status} (${why})`);
}

export function intOption(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got "${text}"`);
  return n;
}
