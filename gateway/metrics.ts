/** The gateway's Prometheus metrics, in a registry of its own (several gateways may share a process in tests). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route' | 'method'>;
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
      name: 'geogate_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['route', 'method'],
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

/**
 * Entries a bound dropped before anyone acknowledged them, by stream (`journal`, `outbox`,
 * `dead-letter`): one counter per registry, shared by the workers that trim.
 */
export function evictionsCounter(registry: Registry): Counter<'stream'> {
  const name = 'geogate_evicted_total';
  const existing = registry.getSingleMetric(name) as Counter<'stream'> | undefined;
  return existing ?? new Counter({ name, help: 'Entries dropped by a size or age bound before a consumer acknowledged them, by stream', labelNames: ['stream'], registers: [registry] });
}
