/** Prometheus metrics of the replicator, registered in the registry the gateway passes. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PeerStatus } from './types.js';

export interface ReplicatorMetrics {
  readonly framesSent: Counter<'peer' | 'type'>;
  readonly framesReceived: Counter<'peer' | 'type'>;
  readonly bytesSent: Counter<'peer' | 'type'>;
  readonly bytesReceived: Counter<'peer' | 'type'>;
  readonly appliedRecords: Counter<'peer' | 'outcome'>;
  readonly conflicts: Counter<'peer'>;
  readonly authFailures: Counter<'peer' | 'reason'>;
  readonly linkCloses: Counter<'peer' | 'kind'>;
  readonly logGaps: Counter<'peer'>;
  readonly tailReads: Counter<'result'>;
  /** Removes every metric above from the registry (the replicator stopped). */
  readonly unregister: () => void;
}

export function createMetrics(registry: Registry, status: () => readonly PeerStatus[]): ReplicatorMetrics {
  const registers = [registry];
  const names: string[] = [];
  const peerGauge = (name: string, help: string, pick: (s: PeerStatus) => number): void => {
    names.push(name);
    new Gauge({
      name, help, labelNames: ['peer'], registers,
      collect() {
        for (const s of status()) this.set({ peer: s.region }, pick(s));
      },
    });
  };
  peerGauge('geogate_replication_lag_ms', 'Age of the oldest change the peer has not acked', (s) => s.lagMs);
  peerGauge('geogate_replication_lag_entries', 'Log entries the peer has not acked', (s) => s.lagEntries);
  peerGauge('geogate_replication_heartbeat_age_ms', 'Milliseconds since any frame from the peer (-1: never)', (s) => s.heartbeatAgeMs ?? -1);
  peerGauge('geogate_replication_link_up', 'Authenticated link to the peer is established (1) or not (0)', (s) => (s.linkState === 'established' ? 1 : 0));
  peerGauge('geogate_replication_needs_repair', 'Peer fell past the log bound and needs anti-entropy (1)', (s) => (s.needsRepair ? 1 : 0));
  peerGauge('geogate_replication_inflight_batches', 'CHANGES batches sent to the peer and not yet acked', (s) => s.inflightBatches);
  names.push('geogate_link_rtt_seconds');
  new Gauge({
    name: 'geogate_link_rtt_seconds', help: 'Round trip of the replication link to the peer, from its probe (no sample until measured)',
    labelNames: ['peer'], registers,
    collect() {
      this.reset();
      for (const s of status()) if (typeof s.rttMs === 'number') this.set({ peer: s.region }, s.rttMs / 1000);
    },
  });
  names.push('geogate_replication_peer_state');
  new Gauge({
    name: 'geogate_replication_peer_state', help: 'Failure detector state of the peer (1 for the current state)',
    labelNames: ['peer', 'state'], registers,
    collect() {
      for (const s of status()) for (const state of ['up', 'suspect', 'down'] as const) this.set({ peer: s.region, state }, s.state === state ? 1 : 0);
    },
  });
  const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> => {
    names.push(name);
    return new Counter({ name, help, labelNames, registers });
  };
  return {
    framesSent: counter('geogate_replication_frames_sent_total', 'Frames sent by type', ['peer', 'type']),
    framesReceived: counter('geogate_replication_frames_received_total', 'Frames received by type', ['peer', 'type']),
    bytesSent: counter('geogate_replication_bytes_sent_total', 'Frame bytes sent by type', ['peer', 'type']),
    bytesReceived: counter('geogate_replication_bytes_received_total', 'Frame bytes received by type', ['peer', 'type']),
    appliedRecords: counter('geogate_replication_applied_records_total', 'Records received by apply outcome', ['peer', 'outcome']),
    conflicts: counter('geogate_replication_conflicts_total', 'Records received that conflicted (journaled by the store)', ['peer']),
    authFailures: counter('geogate_replication_auth_failures_total', 'Handshakes refused, by reason', ['peer', 'reason']),
    linkCloses: counter('geogate_replication_link_closes_total', 'Links closed, by kind of reason', ['peer', 'kind']),
    logGaps: counter('geogate_replication_log_gaps_total', 'Times a peer cursor fell behind the trimmed log', ['peer']),
    tailReads: counter('geogate_replication_tail_reads_total', 'Sender reads served from the in-memory tail of the log (hit) or from the log in Redis (miss)', ['result']),
    unregister: () => { for (const name of names) registry.removeSingleMetric(name); },
  };
}
