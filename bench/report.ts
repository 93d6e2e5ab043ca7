/** The human-readable tables printed at the end of a run. */
import type { GatewayBenchResult } from './gateway-bench.js';
import type { ReplicationBenchResult } from './replication-bench.js';

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : 'n/a');

export function gatewayReport(r: GatewayBenchResult): string {
  const rows: (string | number)[][] = [];
  for (const kind of ['PUT', 'GET'] as const) {
    const s = r.summary[kind];
    rows.push([`${kind} baseline`, s.baseline.reqPerS, ms(s.baseline.latencyP50Ms), ms(s.baseline.latencyP99Ms)]);
    rows.push([`${kind} gateway`, s.gateway.reqPerS, ms(s.gateway.latencyP50Ms), ms(s.gateway.latencyP99Ms)]);
    rows.push([`${kind} gateway/baseline`, x(s.ratios.throughput), x(s.ratios.p50), x(s.ratios.p99)]);
  }
  const t = r.targets;
  const out = [
    `Gateway vs baseline — ${r.settings.connections} connections, ${r.settings.durationS} s per run, ${r.settings.rounds} rounds alternated, medians`,
    table(['', 'req/s', 'p50 ms', 'p99 ms'], rows),
    `targets: PUT throughput >= ${t.putThroughputRatioMin}x baseline: ${t.putThroughputMet ? 'met' : 'MISSED'} (${x(r.summary.PUT.ratios.throughput)}); ` +
      `PUT p99 <= ${t.putP99RatioMax}x baseline: ${t.putP99Met ? 'met' : 'MISSED'} (${x(r.summary.PUT.ratios.p99)})`,
  ];
  out.push(table(['redis-server time (whole scenario)', 'calls', 'usec/call', 'total s'],
    (['baseline', 'gateway'] as const).flatMap((t) => r.redisCommands[t].slice(0, 3).map((c) => [`${t}: ${c.command}`, c.calls, c.usecPerCall, (c.usecTotal / 1e6).toFixed(2)]))));
  if (r.profile) {
    out.push(`gateway CPU profile (${r.profile.file}, ${r.profile.totalMs} ms sampled, idle/program ${r.profile.idlePct}%):`);
    out.push(table(['self time by origin', 'ms', '%'], r.profile.byOrigin.slice(0, 10).map((h) => [h.name, h.selfMs, h.selfPct])));
    out.push(table(['self time by function', 'ms', '%'], r.profile.byFunction.slice(0, 15).map((h) => [h.name, h.selfMs, h.selfPct])));
  }
  return out.join('\n');
}

export function replicationReport(r: ReplicationBenchResult): string {
  const rows = r.runs.map((run) => [
    `${run.system} @ ${run.label}`, run.offeredPerS, Math.round(run.writesAckedPerS), Math.round(run.appliedPerS),
    ms(run.lagP50Ms), ms(run.lagP99Ms), ms(run.lagMaxMs), run.lagSamples, run.catchUpMs === null ? 'no' : ms(run.catchUpMs),
  ]);
  const out = [
    `Replication east -> west vs redis REPLICAOF — ${r.settings.durationS} s per run; lag = write acknowledged at the source -> visible in the destination's Redis`,
    table(['', 'offered/s', 'acked/s', 'applied/s', 'lag p50 ms', 'lag p99 ms', 'lag max', 'samples', 'catch-up ms'], rows),
  ];
  for (const c of r.comparisons) out.push(`${c.label}: geogate/redis lag p50 ${x(c.lagP50Ratio)}, p99 ${x(c.lagP99Ratio)}, applied/s ${x(c.appliedRatio)}`);
  if (r.idle) {
    out.push(`idle link (${r.idle.seconds} s, no writes): east->west ${r.idle.eastToWestBytesPerS.toFixed(0)} frame bytes/s ` +
      `(${JSON.stringify(r.idle.eastToWestByType)}), west->east ${r.idle.westToEastBytesPerS.toFixed(0)} frame bytes/s; ` +
      `redis replica link ${r.idle.redisReplicaBytesPerS === null ? 'n/a' : r.idle.redisReplicaBytesPerS.toFixed(0)} bytes/s`);
  }
  return out.join('\n');
}
