/** The gateway's Prometheus metrics, in a registry of its own (several gateways may share a process in tests). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route' | 'method' | 'status_class'>;
  readonly storeErrors: Counter<'kind'>;
  readonly inFlight: Gauge;
  /** Requests being served right now (read by the gauge at scrape time). */
  readonly inFlightNow: { value: number };
  readonly storeUp: Gauge;
}

export function createGatewayMetrics(region: string, withDefaults = true): GatewayMetrics {
  const inFlightNow = { value: 0 };
  const registry = new Registry();
  registry.setDefaultLabels({ region });
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'geogate_' });
  return {
    registry,
    requests: new Counter({ name: 'geogate_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] }),
    latency: new Histogram({
      name: 'geogate_http_request_duration_seconds', help: 'HTTP request latency by route, method and status class (2xx, 3xx, 4xx, 5xx)', labelNames: ['route', 'method', 'status_class'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
    }),
    storeErrors: new Counter({ name: 'geogate_store_errors_total', help: 'Errors talking to the region store (Redis)', labelNames: ['kind'], registers: [registry] }),
    inFlight: new Gauge({
      name: 'geogate_http_requests_in_flight', help: 'Requests being served', registers: [registry],
      collect() { this.set(inFlightNow.value); },
    }),
    inFlightNow,
    storeUp: new Gauge({ name: 'geogate_store_up', help: '1 when the region store answers', registers: [registry] }),
  };
}

/** The fixed set of `status_class` values of the latency histogram. */
export const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'other'] as const;

/** The latency histogram's `status_class` of an HTTP status: one of STATUS_CLASSES. */
export function statusClassLabel(status: number): (typeof STATUS_CLASSES)[number] {
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  if (status >= 500 && status < 600) return '5xx';
  return 'other';
}

/**
 * Entries a bound dropped before anyone acknowledged them, by stream (`journal`, `outbox`,
 * `dead-letter`): one counter per registry, shared by the workers that trim.
 */
export function evictionsCounter(registry: Registry): Counter<'stream'> {
  const name = 'geogate_evicted_total';
  const existing = registry.getSingleMetric(name) as Counter<'stream'> | undefined;
  return existing ?? new Counter({ name, help: 'Entries dropped by a size or age bound before a consumer acknowledged them, by stream', labelNames: ['stream'], registers: [registry] });
}

/** A scrape waits this long for the stream sizes; past it the gauges are NaN and the error is counted. */
export const STREAM_SIZES_TIMEOUT_MS = 1_000;
/** One read of the sizes serves every gauge of a scrape (and scrapes this close together). */
const STREAM_SIZES_REUSE_MS = 100;

export interface StreamSizesRead {
  readonly journalEntries: number;
  readonly journalBytes: number;
  readonly outboxEntries: number;
  readonly deadLetters: number;
}

/**
 * Gauges of the conflict journal, outbox and dead letters, read at scrape time with
 * `read` (ConflictStore.sizes: constant cost, no stream scanned), bounded by
 * STREAM_SIZES_TIMEOUT_MS. A failed or late read makes the gauges NaN (never a stale or a
 * made-up 0) and counts `geogate_store_errors_total{kind="stream-sizes"}`.
 */
export function streamSizeGauges(metrics: Pick<GatewayMetrics, 'registry' | 'storeErrors'>, read: () => Promise<StreamSizesRead>, nowMs: () => number = () => performance.now()): void {
  let last: { atMs: number; value: Promise<StreamSizesRead | null> } | null = null;
  const sizes = (): Promise<StreamSizesRead | null> => {
    const now = nowMs();
    if (last && now - last.atMs < STREAM_SIZES_REUSE_MS) return last.value;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${STREAM_SIZES_TIMEOUT_MS} ms`)), STREAM_SIZES_TIMEOUT_MS); });
    const value = Promise.race([read(), timeout])
      .catch(() => { metrics.storeErrors.inc({ kind: 'stream-sizes' }); return null; })
      .finally(() => clearTimeout(timer));
    last = { atMs: now, value };
    return value;
  };
  const gauge = (name: string, help: string, pick: (s: StreamSizesRead) => number): void => {
    new Gauge({
      name, help, registers: [metrics.registry],
      async collect() {
        const s = await sizes();
        this.set(s === null ? Number.NaN : pick(s));
      },
    });
  };
  gauge('geogate_journal_entries', 'Entries in the conflict journal (acknowledged or not)', (s) => s.journalEntries);
  gauge('geogate_journal_bytes', 'Bytes the conflict journal holds, as counted against conflicts.journalMaxBytes', (s) => s.journalBytes);
  gauge('geogate_outbox_entries', 'Compensating actions waiting in the outbox', (s) => s.outboxEntries);
  gauge('geogate_dead_letters', 'Compensating actions given up on and not yet removed', (s) => s.deadLetters);
}
