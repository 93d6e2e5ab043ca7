/** A minimal keep-alive HTTP PUT for the write drivers (lighter than fetch per request). */
import { Agent, request } from 'node:http';

export const PUT_TIMEOUT_MS = 10_000;

export function createPutter(baseUrl: string, socketsMax: number): { put(path: string, body: Buffer): Promise<void>; close(): void } {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: socketsMax });
  const put = (path: string, body: Buffer) => new Promise<void>((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path, method: 'PUT', agent, timeout: PUT_TIMEOUT_MS,
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.byteLength },
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode !== undefined && res.statusCode < 300 ? resolve() : reject(new Error(`PUT ${path}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`PUT ${path}: no answer within ${PUT_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
  return { put, close: () => agent.destroy() };
}
