/**
 * What a process proves itself with, read from files or the environment named in its
 * config (the config files of the documented examples hold no secret): the cluster
 * secrets, the admin tokens, the TLS certificate, key and CA certificates. Several secrets,
 * tokens and CA files are accepted at once for rotation; the first secret signs. `reload()`
 * reads everything again (SIGHUP, or a change of one of `files()`: security/file-watch.ts): on
 * any error the old credentials stay and the error is thrown, naming the file or variable.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { resolve } from 'node:path';
import { z } from 'zod';

export const SECRETS_MAX = 8;
export const CA_FILES_MAX = 8;
export const SECRET_CHARS_MIN = 16;

const file = z.string().min(1);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const secretValue = z.string().min(SECRET_CHARS_MIN, `at least ${SECRET_CHARS_MIN} characters`);

/** `tls` of the gateway and witness configs. */
export const tlsFilesSchema = z.strictObject({
  certFile: file,
  keyFile: file,
  /** The cluster CA; several (rotation): a certificate signed by any of them is accepted. */
  caFile: z.union([file, z.array(file).min(1).max(CA_FILES_MAX)]),
  /**
   * The certificate served to API clients (e.g. from a public CA), when it is not the
   * cluster one: the listener serves it by default and the node's certificate to dialers
   * that ask for CLUSTER_SERVERNAME (SNI).
   */
  client: z.strictObject({ certFile: file, keyFile: file }).optional(),
});
export type TlsFiles = z.infer<typeof tlsFilesSchema>;

/** Secret fields: inline (one or several), a file (one per line), or an environment variable (comma-separated). */
export const secretSourceFields = {
  secret: z.union([secretValue, z.array(secretValue).min(1).max(SECRETS_MAX)]).optional(),
  secretFile: file.optional(),
  secretEnv: envName.optional(),
};
export const tokenSourceFields = {
  token: z.union([secretValue, z.array(secretValue).min(1).max(SECRETS_MAX)]).optional(),
  tokenFile: file.optional(),
  tokenEnv: envName.optional(),
};

export interface SecretSource {
  readonly inline?: string | readonly string[] | undefined;
  readonly file?: string | undefined;
  readonly env?: string | undefined;
}

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca: readonly string[];
  /** The certificate and key served to API clients (absent: the node's). */
  readonly client?: { readonly cert: string; readonly key: string } | undefined;
}

/** A credential that cannot be read or is malformed; `field` names it in the config. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** Null when exactly one of the source's fields is set, else the problem. */
export function sourceProblem(src: SecretSource, names: readonly [string, string, string], required: boolean): string | null {
  const set = [src.inline, src.file, src.env].filter((v) => v !== undefined).length;
  if (set > 1) return `set only one of ${names.join(', ')}`;
  if (set === 0 && required) return `one of ${names.join(', ')} is required`;
  return null;
}

/** Reads the secrets of `src` (empty when none is configured). */
export function readSecrets(src: SecretSource, field: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  let values: string[];
  if (src.inline !== undefined) values = typeof src.inline === 'string' ? [src.inline] : [...src.inline];
  else if (src.file !== undefined) {
    const path = resolve(baseDir, src.file);
    let text: string;
    try { text = readFileSync(path, 'utf8'); } catch (err) { throw new CredentialsError(`${field}File`, `cannot read ${path}: ${(err as Error).message}`); }
    values = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    if (values.length === 0) throw new CredentialsError(`${field}File`, `${path} holds no ${field}`);
  } else if (src.env !== undefined) {
    const text = env[src.env];
    if (text === undefined || text.trim() === '') throw new CredentialsError(`${field}Env`, `environment variable ${src.env} is not set`);
    values = text.split(',').map((v) => v.trim()).filter((v) => v !== '');
  } else return [];
  if (values.length > SECRETS_MAX) throw new CredentialsError(field, `at most ${SECRETS_MAX} values at once`);
  const short = values.findIndex((v) => v.length < SECRET_CHARS_MIN);
  if (short >= 0) throw new CredentialsError(field, `value ${short + 1} is shorter than ${SECRET_CHARS_MIN} characters`);
  return values;
}

export function readTlsFiles(files: TlsFiles, baseDir: string): TlsMaterial {
  const read = (path: string, field: string, marker: string): string => {
    const full = resolve(baseDir, path);
    let text: string;
    try { text = readFileSync(full, 'utf8'); } catch (err) { throw new CredentialsError(`tls.${field}`, `cannot read ${full}: ${(err as Error).message}`); }
    if (!text.includes(marker)) throw new CredentialsError(`tls.${field}`, `${full} is not PEM (${marker} missing)`);
    return text;
  };
  const caFiles = typeof files.caFile === 'string' ? [files.caFile] : files.caFile;
  const m: TlsMaterial = {
    cert: read(files.certFile, 'certFile', '-----BEGIN CERTIFICATE-----'),
    key: read(files.keyFile, 'keyFile', 'PRIVATE KEY-----'),
    ca: caFiles.map((f) => read(f, 'caFile', '-----BEGIN CERTIFICATE-----')),
    ...(files.client ? {
      client: { cert: read(files.client.certFile, 'client.certFile', '-----BEGIN CERTIFICATE-----'), key: read(files.client.keyFile, 'client.keyFile', 'PRIVATE KEY-----') },
    } : {}),
  };
  // usable as a whole, or refused before anything is installed: a certificate rotated without
  // its key yet (or a key half written) would otherwise be taken and fail every handshake
  usable(m.cert, m.key, m.ca, `tls.certFile/keyFile (${files.certFile}, ${files.keyFile})`);
  if (m.client && files.client) usable(m.client.cert, m.client.key, m.ca, `tls.client (${files.client.certFile}, ${files.client.keyFile})`);
  return m;
}

function usable(cert: string, key: string, ca: readonly string[], field: string): void {
  try {
    createSecureContext({ cert, key, ca: [...ca] });
  } catch (err) {
    throw new CredentialsError(field.split(' ')[0]!, `${field} cannot be used together: ${(err as Error).message}`);
  }
}

export interface CredentialsSpec {
  readonly secrets?: SecretSource;
  readonly adminTokens?: SecretSource;
  readonly tls?: TlsFiles | undefined;
  /** Relative paths are resolved against it (the config file's directory). */
  readonly baseDir: string;
  readonly env?: NodeJS.ProcessEnv;
}

interface Snapshot {
  readonly secrets: readonly string[];
  readonly adminTokens: readonly string[];
  readonly tls: TlsMaterial | undefined;
}

/** The current credentials of a process; components read them at each use, so a reload applies to the next handshake. */
export class Credentials {
  private current: Snapshot;
  private readonly listeners = new Set<(c: Credentials) => void>();

  constructor(private readonly spec: CredentialsSpec) {
    this.current = this.read();
  }

  /** Cluster secrets; the first signs, all are accepted. */
  secrets(): readonly string[] {
    return this.current.secrets;
  }
  signingSecret(): string {
    const s = this.current.secrets[0];
    if (s === undefined) throw new CredentialsError('cluster.secret', 'no cluster secret configured');
    return s;
  }
  adminTokens(): readonly string[] {
    return this.current.adminTokens;
  }
  tls(): TlsMaterial | undefined {
    return this.current.tls;
  }

  /** Reads every credential again; throws (keeping the old ones) when one cannot be read. */
  reload(): void {
    this.current = this.read();
    for (const l of this.listeners) l(this);
  }

  /** What is in use now (opaque), for `restore` when installing a reloaded set failed further on. */
  snapshot(): object {
    return this.current;
  }

  restore(snapshot: object): void {
    this.current = snapshot as Snapshot;
    for (const l of this.listeners) l(this);
  }

  /** Every file the credentials are read from (resolved paths): what a reload on file change watches. */
  files(): string[] {
    const { spec } = this;
    const t = spec.tls;
    const paths = [spec.secrets?.file, spec.adminTokens?.file, t?.certFile, t?.keyFile,
      ...(t ? (typeof t.caFile === 'string' ? [t.caFile] : t.caFile) : []), t?.client?.certFile, t?.client?.keyFile];
    return [...new Set(paths.filter((p): p is string => p !== undefined).map((p) => resolve(spec.baseDir, p)))];
  }

  onReload(listener: (c: Credentials) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private read(): Snapshot {
    const { spec } = this;
    const env = spec.env ?? process.env;
    return Object.freeze({
      secrets: Object.freeze(spec.secrets ? readSecrets(spec.secrets, 'cluster.secret', spec.baseDir, env) : []),
      adminTokens: Object.freeze(spec.adminTokens ? readSecrets(spec.adminTokens, 'admin.token', spec.baseDir, env) : []),
      tls: spec.tls ? Object.freeze(readTlsFiles(spec.tls, spec.baseDir)) : undefined,
    });
  }
}
