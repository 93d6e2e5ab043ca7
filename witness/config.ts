import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { CredentialsError, readSecrets, secretSourceFields, sourceProblem, tlsFilesSchema, tokenSourceFields } from '../security/index.js';
import { WitnessConfigError } from './errors.js';
import { NAME_CHARS_MAX } from './protocol.js';

export const DEFAULT_LEASE_MS = 1500;
export const DEFAULT_DRIFT_MARGIN_MS = 150;
export const DEFAULT_REGION_SILENCE_MS = 1000;
export const DEFAULT_MIN_OWNERSHIP_CHANGE_INTERVAL_MS = 2000;
export const DEFAULT_BODY_BYTES_MAX = 512 * 1024;
export const DEFAULT_AUTH_SKEW_MS = 30_000;
export const DEFAULT_REPLAY_CACHE_MAX = 100_000;
export const DEFAULT_GRANT_QUEUE_MAX = 256;
export const DEFAULT_STATE_DECISIONS_MAX = 1000;
export const PARTITIONS_MAX = 4096;

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i).max(NAME_CHARS_MAX);
const ms = z.number().int().positive();

export const witnessConfigSchema = z
  .strictObject({
    listen: z.strictObject({ host: z.string().min(1).default('127.0.0.1'), port: z.number().int().min(0).max(65535) }),
    // exactly one of secret (one or several), secretFile, secretEnv
    cluster: z.strictObject({ id: name, ...secretSourceFields, regions: z.array(name).min(1).max(16) }),
    /** HTTPS; votes (POST) only from a region certificate of the cluster CA naming the request's region. */
    tls: tlsFilesSchema.optional(),
    /** Reload the credential files when they change (polled every watchMs; 0: only on SIGHUP). */
    credentials: z.strictObject({ watchMs: z.number().int().min(0).max(3_600_000).default(2000) }).prefault({}),
    /** Bearer token for /v1/status and /v1/decisions (besides a signed request), and /metrics with protectReads. */
    admin: z.strictObject({ ...tokenSourceFields, protectReads: z.boolean().default(false) }).prefault({}),
    keyspaces: z
      .array(
        z.strictObject({
          name,
          partitions: z.number().int().min(1).max(PARTITIONS_MAX),
          writes: z.enum(['single-master', 'multi-master']).optional(),
          onSplit: z.enum(['fence', 'diverge']).default('fence'),
          nodes: z.array(z.array(name).min(1)).optional(),
          /** Regions marked `replication: sync` in the gateways' node lists: failovers go to them. */
          sync: z.array(name).max(16).optional(),
        }),
      )
      .min(1),
    weights: z.record(z.string(), z.number().int().min(0).max(100)).optional(),
    stateFile: z.string().min(1),
    leaseMs: ms.min(100).max(60_000).default(DEFAULT_LEASE_MS),
    driftMarginMs: z.number().int().min(0).default(DEFAULT_DRIFT_MARGIN_MS),
    regionSilenceMs: ms.default(DEFAULT_REGION_SILENCE_MS),
    minOwnershipChangeIntervalMs: z.number().int().min(0).default(DEFAULT_MIN_OWNERSHIP_CHANGE_INTERVAL_MS),
    decisionsMax: z.number().int().min(1).max(100_000).default(DEFAULT_STATE_DECISIONS_MAX),
    bodyBytesMax: z.number().int().min(1024).max(16 * 1024 * 1024).default(DEFAULT_BODY_BYTES_MAX),
    authSkewMs: ms.default(DEFAULT_AUTH_SKEW_MS),
    replayCacheMax: z.number().int().min(1).default(DEFAULT_REPLAY_CACHE_MAX),
    grantQueueMax: z.number().int().min(1).default(DEFAULT_GRANT_QUEUE_MAX),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .check((ctx) => {
    const c = ctx.value;
    if (c.driftMarginMs >= c.leaseMs) ctx.issues.push({ code: 'custom', path: ['driftMarginMs'], message: 'must be below leaseMs', input: c.driftMarginMs });
    const total = c.keyspaces.reduce((n, k) => n + k.partitions, 0);
    if (total > PARTITIONS_MAX) ctx.issues.push({ code: 'custom', path: ['keyspaces'], message: `at most ${PARTITIONS_MAX} partitions in all`, input: total });
    c.keyspaces.forEach((k, i) => {
      if (k.nodes && k.nodes.length !== k.partitions) ctx.issues.push({ code: 'custom', path: ['keyspaces', i, 'nodes'], message: 'needs one node list per partition', input: k.nodes });
      for (const r of (k.nodes ?? []).flat()) {
        if (!c.cluster.regions.includes(r)) ctx.issues.push({ code: 'custom', path: ['keyspaces', i, 'nodes'], message: `unknown region ${r}`, input: r });
      }
      for (const r of k.sync ?? []) {
        if (!c.cluster.regions.includes(r)) ctx.issues.push({ code: 'custom', path: ['keyspaces', i, 'sync'], message: `unknown region ${r}`, input: r });
        else if (k.nodes?.some((list) => !list.includes(r))) ctx.issues.push({ code: 'custom', path: ['keyspaces', i, 'sync'], message: `sync replica ${r} is missing from a node list`, input: r });
      }
    });
  });

type ParsedWitnessConfig = z.infer<typeof witnessConfigSchema>;
/** `cluster.secret` signs, `cluster.secrets` are accepted; `admin.tokens` accepted tokens; `baseDir` resolves the credential files. */
export type WitnessConfig = Readonly<Omit<ParsedWitnessConfig, 'cluster' | 'admin'> & {
  cluster: ParsedWitnessConfig['cluster'] & { readonly secret: string; readonly secrets: readonly string[] };
  admin: ParsedWitnessConfig['admin'] & { readonly tokens: readonly string[] };
  baseDir: string;
}>;

/** Validates a parsed config object; `file` names the source in errors. */
export function parseWitnessConfig(raw: unknown, file: string): WitnessConfig {
  const r = witnessConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new WitnessConfigError(file, issue?.path.join('.') || '(root)', issue?.message ?? 'invalid');
  }
  const baseDir = dirname(resolve(file));
  const stateFile = resolve(baseDir, r.data.stateFile);
  return Object.freeze({ ...resolveSecrets(r.data, file, baseDir), stateFile, baseDir });
}

function resolveSecrets(c: ParsedWitnessConfig, file: string, baseDir: string): Omit<WitnessConfig, 'baseDir'> {
  const cluster = { inline: c.cluster.secret, file: c.cluster.secretFile, env: c.cluster.secretEnv };
  const admin = { inline: c.admin.token, file: c.admin.tokenFile, env: c.admin.tokenEnv };
  const p1 = sourceProblem(cluster, ['cluster.secret', 'cluster.secretFile', 'cluster.secretEnv'], true);
  if (p1) throw new WitnessConfigError(file, 'cluster.secret', p1);
  const p2 = sourceProblem(admin, ['admin.token', 'admin.tokenFile', 'admin.tokenEnv'], false);
  if (p2) throw new WitnessConfigError(file, 'admin.token', p2);
  try {
    const secrets = readSecrets(cluster, 'cluster.secret', baseDir);
    const tokens = readSecrets(admin, 'admin.token', baseDir);
    if (c.admin.protectReads && tokens.length === 0) throw new CredentialsError('admin.protectReads', 'needs admin.token, admin.tokenFile or admin.tokenEnv');
    return { ...c, cluster: { ...c.cluster, secret: secrets[0]!, secrets }, admin: { ...c.admin, tokens } };
  } catch (err) {
    if (err instanceof CredentialsError) throw new WitnessConfigError(file, err.field, err.message);
    throw err;
  }
}

export function loadWitnessConfig(file: string): WitnessConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new WitnessConfigError(file, '(file)', (err as Error).message);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new WitnessConfigError(file, '(json)', (err as Error).message);
  }
  return parseWitnessConfig(raw, file);
}
