/**
 * `geogate certs`: dev and test certificates in the manner of `cockroach cert`.
 *   certs create-ca --dir D                          ca.crt, ca.key
 *   certs create-node --dir D --region east [--host H]...   region-east.crt/.key (URI:geogate://region/east)
 *   certs create-witness --dir D [--host H]...        witness.crt/.key (URI:geogate://witness)
 * `--host` (repeatable) adds the DNS names / IP addresses clients use (default localhost,
 * 127.0.0.1); `--days N` the validity; `--overwrite` replaces existing files.
 */
import { parseArgs } from 'node:util';
import { createCa, createNodeCert, DEFAULT_NODE_HOSTS, type NodeIdentity } from '../../security/index.js';

export const CERTS_USAGE = `  certs create-ca --dir D [--days N] [--overwrite]
  certs create-node --dir D --region R [--host H]... [--days N] [--overwrite]
  certs create-witness --dir D [--host H]... [--days N] [--overwrite]
                               cluster CA and node certificates (ECDSA P-256) for TLS
`;

const DAY_MS = 86_400_000;

export class CertsUsageError extends Error {
  override readonly name = 'UsageError';
}

export async function certsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      dir: { type: 'string' }, region: { type: 'string' }, host: { type: 'string', multiple: true },
      days: { type: 'string' }, overwrite: { type: 'boolean', default: false },
    },
  });
  if (!values.dir) throw new CertsUsageError(`certs ${sub ?? ''} needs --dir D`);
  const days = values.days === undefined ? undefined : Number(values.days);
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 36_500)) throw new CertsUsageError(`--days must be an integer in [1, 36500], got "${values.days}"`);
  const validity = days === undefined ? {} : { notAfter: new Date(Date.now() + days * DAY_MS) };
  const print = (f: { certFile: string; keyFile: string }) => process.stdout.write(`wrote ${f.certFile}\nwrote ${f.keyFile}\n`);
  if (sub === 'create-ca') {
    print(await createCa({ dir: values.dir, overwrite: values.overwrite, ...validity }));
    return 0;
  }
  if (sub === 'create-node' || sub === 'create-witness') {
    let node: NodeIdentity;
    if (sub === 'create-witness') node = { witness: true };
    else {
      if (!values.region || !/^[a-z][a-z0-9-]{0,31}$/.test(values.region)) throw new CertsUsageError('create-node needs --region R (1-32 of [a-z0-9-], starting with a letter)');
      node = { region: values.region };
    }
    print(await createNodeCert({ dir: values.dir, node, hosts: values.host ?? DEFAULT_NODE_HOSTS, overwrite: values.overwrite, ...validity }));
    return 0;
  }
  throw new CertsUsageError(`unknown certs command "${sub ?? ''}" (create-ca, create-node, create-witness)`);
}
