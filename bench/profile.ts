/**
 * Reads a V8 `.cpuprofile` and sums self time per function and per code origin (a package
 * under node_modules, a project folder, or node internals), for the hot-spot part of the report.
 */
import { readFileSync } from 'node:fs';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Idle + GC + program markers, as V8 names them. */
  idlePct: number;
  byFunction: HotSpot[];
  byOrigin: HotSpot[];
}

export function origin(url: string): string {
  if (url === '') return '(native / vm)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const proj = /\/(gateway|replicator|witness|conflict|infra|bench)\//.exec(url);
  return proj ? `${proj[1]}/` : url;
}

function top(map: Map<string, number>, totalUs: number, n: number): HotSpot[] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), selfPct: Math.round((us / totalUs) * 1000) / 10 }));
}

export function summarizeProfile(file: string, topN = 15): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    totalUs += dt;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });
  const fn = new Map<string, number>();
  const org = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    if (cf.functionName === '(idle)' || cf.functionName === '(program)') idleUs += us;
    const where = cf.url ? `${cf.url.replace(/^.*\/(node_modules\/|work\/main\/)/, '')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    const o = cf.functionName === '(garbage collector)' ? '(garbage collector)' : cf.functionName === '(idle)' ? '(idle)' : origin(cf.url);
    org.set(o, (org.get(o) ?? 0) + us);
  }
  return {
    file, totalMs: Math.round(totalUs / 1000), idlePct: Math.round((idleUs / Math.max(1, totalUs)) * 1000) / 10,
    byFunction: top(fn, totalUs, topN), byOrigin: top(org, totalUs, topN),
  };
}
