/**
 * Closed-loop HTTP load with autocannon (in this process): PUT of a small value over a
 * bounded key space, or GET of keys that exist. Every run has a fixed duration.
 */
import autocannon from 'autocannon';
import { createPutter } from './http-client.js';

export interface LoadOptions {
  baseUrl: string;
  keyspace: string;
  keysMax: number;
  valueBytes: number;
  connections: number;
  durationS: number;
}

export interface LoadResult {
  reqPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMeanMs: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** Keys `k0 … k{keysMax-1}`, visited in a fixed pseudo-random order (no Math.random per request). */
function keyPicker(keysMax: number): () => string {
  let i = 0;
  const stride = 7919; // a prime that does not divide keysMax for the sizes used here
  return () => {
    i = (i + stride) % keysMax;
    return `k${i}`;
  };
}

export async function runLoad(kind: 'PUT' | 'GET', opts: LoadOptions): Promise<LoadResult> {
  const next = keyPicker(opts.keysMax);
  const body = Buffer.alloc(opts.valueBytes, 'x');
  const prefix = `/v1/kv/${opts.keyspace}/`;
  const res = await autocannon({
    url: opts.baseUrl,
    connections: opts.connections,
    duration: opts.durationS,
    timeout: 10,
    requests: [{
      method: kind,
      headers: kind === 'PUT' ? { 'content-type': 'application/octet-stream' } : {},
      body: kind === 'PUT' ? body : undefined,
      setupRequest: (req) => ({ ...req, path: prefix + next() }),
    }],
  });
  return {
    reqPerS: res.requests.average,
    latencyP50Ms: res.latency.p50,
    latencyP99Ms: res.latency.p99,
    latencyMeanMs: res.latency.average,
    requests: res.requests.total,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
  };
}

/** Writes every key once (bounded concurrency) so the GET runs read keys that exist. */
export async function preload(opts: Pick<LoadOptions, 'baseUrl' | 'keyspace' | 'keysMax' | 'valueBytes'>, concurrency = 32): Promise<void> {
  const body = Buffer.alloc(opts.valueBytes, 'x');
  const putter = createPutter(opts.baseUrl, concurrency);
  let next = 0;
  const worker = async () => {
    while (next < opts.keysMax) await putter.put(`/v1/kv/${opts.keyspace}/k${next++}`, body);
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    putter.close();
  }
}
