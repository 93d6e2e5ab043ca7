/** One request for the CLI: http:// or https:// (with the cluster CA when given), an optional bearer token, bounded in time and size. */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export const CLI_TIMEOUT_MS = 10_000;
export const CLI_REPLY_BYTES_MAX = 64 * 1024 * 1024;

export interface CliHttpOptions {
  readonly caFile?: string | undefined;
  readonly token?: string | undefined;
  readonly timeoutMs?: number | undefined;
}

/** The server did not answer (refused, reset, timeout, too large): the message names the URL. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

export function getJson(url: string, o: CliHttpOptions = {}): Promise<{ status: number; body: unknown }> {
  return requestJson('GET', url, o);
}

export function requestJson(method: 'GET' | 'POST', url: string, o: CliHttpOptions = {}, payload?: unknown): Promise<{ status: number; body: unknown }> {
  const https = url.startsWith('https:');
  const request = https ? httpsRequest : httpRequest;
  const body = payload === undefined ? undefined : JSON.stringify(payload);
  const headers: Record<string, string> = {
    ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
    ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
  };
  const tls = https && o.caFile ? { ca: readFileSync(o.caFile, 'utf8') } : {};
  const timeoutMs = o.timeoutMs ?? CLI_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new UnreachableError(`${url}: ${why}`));
    };
    const req = request(url, { method, headers, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > CLI_REPLY_BYTES_MAX) { fail(`reply over ${CLI_REPLY_BYTES_MAX} bytes`); req.destroy(); } else chunks.push(c);
      });
      res.on('end', () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON: kept as text */ }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', (err) => fail(describe(err)));
    });
    const timer = setTimeout(() => { fail(`no answer in ${timeoutMs} ms`); req.destroy(); }, timeoutMs);
    req.on('error', (err) => fail(describe(err)));
    req.end(body);
  });
}

function describe(err: Error & { code?: string }): string {
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.code === 'ECONNRESET') return 'connection reset';
  return err.code ? `${err.message} (${err.code})` : err.message;
}
