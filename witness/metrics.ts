import { Counter, Gauge, Registry } from 'prom-client';

/** The witness's Prometheus metrics, on a registry of its own (one per service instance). */
export function createWitnessMetrics() {
  const registry = new Registry();
  const make = <T extends string>(name: string, help: string, labelNames: readonly T[]) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    decisions: make('geogate_witness_decisions_total', 'Ownership changes by reason', ['reason']),
    grants: make('geogate_witness_grant_requests_total', 'Grant requests by outcome and reason', ['outcome', 'reason']),
    confirms: make('geogate_witness_confirms_total', 'Lease confirmations by verdict', ['verdict']),
    refusals: make('geogate_witness_confirm_refusals_total', 'Refused confirmations by reason', ['reason']),
    authFailures: make('geogate_witness_auth_failures_total', 'Requests refused by authentication', ['reason']),
    quiet: new Gauge({ name: 'geogate_witness_quiet', help: '1 while in the boot quiet period', registers: [registry] }),
  };
}

export type WitnessMetrics = ReturnType<typeof createWitnessMetrics>;
