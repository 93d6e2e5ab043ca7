/** One GET for the CLI: http:// or https:// (with the cluster CA when given), an optional bearer token, bounded in time and size. */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export const CLI_TIMEOUT_MS = 10_000;
export const CLI_REPLY_BYTES_MAX = 64 * 1024 * 1024;

export function getJson(url: string, o: { caFile?: string; token?: string } = {}): Promise<{ status: number; body: unknown }> {
  const https = url.startsWith('https:');
  const request = https ? httpsRequest : httpRequest;
  const headers = o.token ? { authorization: `Bearer ${o.token}` } : {};
  const tls = https && o.caFile ? { ca: readFileSync(o.caFile, 'utf8') } : {};
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, timeout: CLI_TIMEOUT_MS, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; if (bytes > CLI_REPLY_BYTES_MAX) req.destroy(new Error('reply too large')); else chunks.push(c); });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON: printed as text */ }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${CLI_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}
