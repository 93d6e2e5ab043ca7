/**
 * Dev and test certificates, in the manner of `cockroach cert`: one cluster CA per
 * directory (`ca.crt`, `ca.key`), and a certificate per node signed by it —
 * `region-<name>.crt/.key` naming `URI:geogate://region/<name>`, `witness.crt/.key` naming
 * `URI:geogate://witness` — with the hosts clients reach it by as DNS/IP SANs. ECDSA P-256,
 * generated with Node's WebCrypto and encoded by @peculiar/x509 (loaded only here, on use:
 * the gateway and the witness never load it). Private keys are written 0600; existing files
 * are refused unless `overwrite`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { randomBytes, webcrypto } from 'node:crypto';
import { regionIdentity, WITNESS_IDENTITY } from './identity.js';

export const DEFAULT_CA_VALID_DAYS = 3650;
export const DEFAULT_NODE_VALID_DAYS = 365;
export const DEFAULT_NODE_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];
const DAY_MS = 86_400_000;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export class CertsError extends Error {
  override readonly name = 'CertsError';
}

export interface Validity {
  /** Default now. */
  readonly notBefore?: Date;
  /** Default notBefore + the kind's default validity. */
  readonly notAfter?: Date;
}

export interface CreateCaOptions extends Validity {
  readonly dir: string;
  readonly commonName?: string;
  readonly overwrite?: boolean;
}

export type NodeIdentity = { readonly region: string } | { readonly witness: true };

export interface CreateNodeOptions extends Validity {
  readonly dir: string;
  readonly node: NodeIdentity;
  /** DNS names and IP addresses the node is reached by (default localhost, 127.0.0.1). */
  readonly hosts?: readonly string[];
  /** Where ca.crt/ca.key are (default `dir`). */
  readonly caDir?: string;
  readonly overwrite?: boolean;
}

export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

type X509 = typeof import('@peculiar/x509');
let loaded: Promise<X509> | null = null;
function x509(): Promise<X509> {
  loaded ??= (async () => {
    await import('reflect-metadata'); // @peculiar/x509's dependency injection needs it
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
    return lib;
  })();
  return loaded;
}

export function nodeFileBase(node: NodeIdentity): string {
  return 'region' in node ? `region-${node.region}` : 'witness';
}

export async function createCa(o: CreateCaOptions): Promise<CertFiles> {
  const lib = await x509();
  const files = { certFile: join(o.dir, 'ca.crt'), keyFile: join(o.dir, 'ca.key') };
  refuseExisting(files, o.overwrite);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const { notBefore, notAfter } = validity(o, DEFAULT_CA_VALID_DAYS);
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=${o.commonName ?? 'geogate cluster CA'}`, notBefore, notAfter, keys, signingAlgorithm: ALG,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await write(files, cert.toString('pem'), keys.privateKey, o.dir);
  return files;
}

export async function createNodeCert(o: CreateNodeOptions): Promise<CertFiles> {
  const lib = await x509();
  const caDir = o.caDir ?? o.dir;
  const ca = loadCa(lib, caDir);
  const caKey = await importKey(lib, ca.keyPem, join(caDir, 'ca.key'));
  const base = nodeFileBase(o.node);
  const files = { certFile: join(o.dir, `${base}.crt`), keyFile: join(o.dir, `${base}.key`) };
  refuseExisting(files, o.overwrite);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const identity = 'region' in o.node ? regionIdentity(o.node.region) : WITNESS_IDENTITY;
  const hosts = o.hosts ?? DEFAULT_NODE_HOSTS;
  const names = [{ type: 'url' as const, value: identity }, ...hosts.map((h) => ({ type: isIP(h) ? 'ip' as const : 'dns' as const, value: h }))];
  const { notBefore, notAfter } = validity(o, DEFAULT_NODE_VALID_DAYS);
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(), subject: `CN=${'region' in o.node ? o.node.region : 'witness'}.geogate`, issuer: ca.cert.subject,
    notBefore, notAfter, publicKey: keys.publicKey, signingKey: caKey, signingAlgorithm: ALG,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyAgreement, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]),
      new lib.SubjectAlternativeNameExtension(names),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await lib.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  await write(files, cert.toString('pem'), keys.privateKey, o.dir);
  return files;
}

function loadCa(lib: X509, dir: string): { cert: InstanceType<X509['X509Certificate']>; keyPem: string } {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) throw new CertsError(`no CA in ${dir} (ca.crt and ca.key): run 'geogate certs create-ca --dir ${dir}' first`);
  return { cert: new lib.X509Certificate(readFileSync(certFile, 'utf8')), keyPem: readFileSync(keyFile, 'utf8') };
}

async function importKey(lib: X509, pem: string, file: string): Promise<webcrypto.CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('pkcs8', lib.PemConverter.decodeFirst(pem), ALG, false, ['sign']);
  } catch (err) {
    throw new CertsError(`${file}: not a PKCS#8 ECDSA P-256 key (${(err as Error).message})`);
  }
}

async function write(files: CertFiles, certPem: string, key: webcrypto.CryptoKey, dir: string): Promise<void> {
  const lib = await x509();
  mkdirSync(dir, { recursive: true });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key);
  writeFileSync(files.keyFile, lib.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n', { mode: 0o600 });
  writeFileSync(files.certFile, certPem + '\n');
}

function refuseExisting(files: CertFiles, overwrite = false): void {
  if (overwrite) return;
  for (const f of [files.certFile, files.keyFile]) if (existsSync(f)) throw new CertsError(`${f} exists (pass --overwrite to replace it)`);
}

function validity(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = v.notBefore ?? new Date(Date.now() - 60_000); // a minute back: peers' clocks differ
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + defaultDays * DAY_MS);
  if (notAfter <= notBefore) throw new CertsError('notAfter must be after notBefore');
  return { notBefore, notAfter };
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // a positive integer
  return bytes.toString('hex');
}
