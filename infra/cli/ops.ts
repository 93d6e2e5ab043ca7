/**
 * The operator commands besides `conflicts`: status (GET /v1/cluster), decisions
 * (GET /v1/cluster/decisions), restore (POST /v1/admin/restore), config check (the gateway's
 * and the witness's own loaders, nothing started). docs/operations.md.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { loadGatewayConfig } from '../../gateway/index.js';
import { CONNECTION_OPTIONS, connectionOf, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, getOk, intOption, postOk, ProblemError, UsageError, type Connection } from './connection.js';
import type { Out } from './conflicts.js';
import { renderStatus, statusProblems, type ClusterBody } from './status-view.js';

type Json = Record<string, unknown>;

export async function statusCommand(args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { ...CONNECTION_OPTIONS, partitions: { type: 'boolean', default: false }, 'timeout-ms': { type: 'string' }, local: { type: 'boolean', default: false } } });
  const c = connectionOf(values);
  const timeout = values['timeout-ms'] === undefined ? '' : `?timeoutMs=${intOption('timeout-ms', values['timeout-ms'], 1, 10_000)}`;
  const body = values.local ? await localOnly(c) : await clusterOrStatus(c, timeout);
  const problems = statusProblems(body);
  // --local --json: the gateway's own /v1/status as it came (what `status` printed before /v1/cluster)
  if (c.json) io.out(JSON.stringify(values.local ? body.regions[0]!.status : body, null, 2));
  else {
    for (const line of renderStatus(body, { partitions: values.partitions })) io.out(line);
    io.out('');
    io.out(problems.length === 0 ? 'ok: every region answered, stores up, links up, nothing diverged or waiting for repair' : `${problems.length} problems:`);
  }
  for (const p of problems) io.err(`  ${p}`);
  return problems.length === 0 ? EXIT_OK : EXIT_PROBLEM;
}

/** Only the gateway asked, from its /v1/status. */
async function localOnly(c: Connection): Promise<ClusterBody> {
  const status = await getOk(c, '/v1/status');
  const region = String(status.region);
  return { region, regions: [{ region, url: c.url, ok: true, status }] };
}

/** GET /v1/cluster; a gateway from before it (404 no_route) is shown alone from its /v1/status. */
async function clusterOrStatus(c: Connection, query: string): Promise<ClusterBody> {
  try {
    return await getOk(c, `/v1/cluster${query}`) as unknown as ClusterBody;
  } catch (err) {
    if (!(err instanceof ProblemError) || !/HTTP 404 \(no_route:/.test(err.message)) throw err;
    return localOnly(c);
  }
}

export async function decisionsCommand(args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { ...CONNECTION_OPTIONS, limit: { type: 'string', default: '50' } } });
  const c = connectionOf(values);
  const limit = intOption('limit', values.limit, 1, 1000);
  const body = await getOk(c, `/v1/cluster/decisions?limit=${limit}`);
  const decisions = (body.decisions as Json[] | undefined) ?? [];
  const regions = (body.regions as { region: string; url: string; ok: boolean; error?: string }[] | undefined) ?? [];
  const witness = body.witness as { ok: boolean; url: string | null; error?: string } | undefined;
  if (c.json) io.out(JSON.stringify(body));
  else {
    for (const d of decisions) io.out(decisionLine(d));
    io.out(`${decisions.length} ownership changes`);
  }
  const missing = regions.filter((r) => !r.ok).map((r) => `${r.region} did not answer at ${r.url}: ${r.error}`);
  if (witness && !witness.ok && witness.url !== null) missing.push(`the witness did not answer at ${witness.url}: ${witness.error}; reasons are missing`);
  for (const m of missing) io.err(`geogate decisions: ${m}`);
  return missing.length > 0 ? EXIT_PROBLEM : EXIT_OK;
}

/** `2026-12-02T20:17:25.744Z  orders/3  epoch 2  west → east  owner-unreachable: west silent for 2000 ms  (seen by witness, east)` */
export function decisionLine(d: Json): string {
  const at = Number(d.at);
  const time = Number.isFinite(at) && at > 0 ? new Date(at).toISOString() : 'unknown';
  const why = d.reason ? `${String(d.reason)}${d.detail ? `: ${String(d.detail)}` : ''}` : 'reason unknown (the witness did not say)';
  const seen = Array.isArray(d.seenBy) ? ` (seen by ${(d.seenBy as string[]).join(', ')})` : '';
  return `${time}  ${String(d.keyspace)}/${String(d.partition)}  epoch ${String(d.epoch)}  ${String(d.previous ?? 'none')} → ${String(d.owner)}  ${why}${seen}`;
}

export async function restoreCommand(args: string[], io: Out, confirm: (question: string) => Promise<boolean> = askOnTerminal): Promise<number> {
  const { values } = parseArgs({ args, options: { ...CONNECTION_OPTIONS, keyspace: { type: 'string' }, partition: { type: 'string' }, source: { type: 'string' }, yes: { type: 'boolean', default: false } } });
  const c = connectionOf(values);
  if (!values.keyspace || values.partition === undefined || !values.source) throw new UsageError('restore needs --keyspace KS --partition P --source REGION');
  const partition = intOption('partition', values.partition, 0, 65_535);
  if (!c.token) throw new UsageError('restore needs the admin token: --token T or GEOGATE_ADMIN_TOKEN');
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new UsageError('not a terminal to confirm on: pass --yes');
    const go = await confirm(`merge ${values.keyspace}/${partition} at ${c.url} from ${values.source} (the keyspace's conflict rules decide each differing key)? [y/N] `);
    if (!go) { io.err('geogate restore: not confirmed, nothing done'); return EXIT_USAGE; }
  }
  const body = await postOk(c, '/v1/admin/restore', { keyspace: values.keyspace, partition, source: values.source });
  if (c.json) io.out(JSON.stringify(body));
  else io.out(`restored ${values.keyspace}/${partition} at ${c.url} from ${values.source}: ${JSON.stringify(body.stats ?? {})}`);
  return EXIT_OK;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const CONFIG_KINDS = ['gateway', 'witness'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** A gateway config names its region and Redis; a witness config its state file. */
export function configKindOf(raw: unknown): ConfigKind | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as Json;
  if ('stateFile' in o) return 'witness';
  if ('region' in o || 'redis' in o) return 'gateway';
  return undefined;
}

/** Exit 0 and `ok` when the file loads; 1 and the loader's error (file, field, problem) when not; 2 on a usage error. */
export async function configCommand(args: string[], io: Out): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'check') throw new UsageError(`config needs a subcommand: config check FILE [--kind gateway|witness] (got "${sub ?? ''}")`);
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { kind: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('config check needs exactly one FILE');
  let kind = CONFIG_KINDS.find((k) => k === values.kind);
  if (values.kind !== undefined && !kind) throw new UsageError(`--kind must be one of ${CONFIG_KINDS.join(', ')}, got "${values.kind}"`);
  const report = (ok: boolean, detail: string, k: ConfigKind | undefined) => {
    if (values.json) io.out(JSON.stringify({ ok, file, kind: k ?? null, ...(ok ? {} : { error: detail }) }));
    else if (ok) io.out(`ok: ${file} is a valid ${k} config${detail ? ` (${detail})` : ''}`);
    else io.err(`geogate config check: ${detail}`);
    return ok ? EXIT_OK : EXIT_PROBLEM;
  };
  if (!kind) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      return report(false, `${file}: (file): ${(err as Error).message}`, undefined);
    }
    kind = configKindOf(raw);
    if (!kind) return report(false, `${file}: (root): neither a gateway config (region, redis) nor a witness config (stateFile); say which with --kind`, undefined);
  }
  try {
    if (kind === 'gateway') {
      const g = loadGatewayConfig(file);
      return report(true, `region ${g.region}, ${g.peers.length} peers, ${g.keyspaces.length} keyspaces`, kind);
    }
    const { loadWitnessConfig } = await import('../../witness/index.js');
    const w = loadWitnessConfig(file);
    return report(true, `${w.cluster.regions.length} regions, ${w.keyspaces.length} keyspaces`, kind);
  } catch (err) {
    const e = err as Error;
    if (e.name === 'ConfigError' || e.name === 'WitnessConfigError') return report(false, e.message, kind);
    throw err;
  }
}
