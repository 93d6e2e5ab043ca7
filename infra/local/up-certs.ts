/** `geogate up --tls`: the cluster CA and one certificate per region and the witness, made in `dir` when missing (a reused --dir keeps them). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, createNodeCert, nodeFileBase, type NodeIdentity } from '../../security/index.js';

export interface UpCertificates {
  readonly caFile: string;
  readonly witness: { certFile: string; keyFile: string; caFile: string };
  readonly regions: ReadonlyMap<string, { certFile: string; keyFile: string; caFile: string }>;
}

export async function upCertificates(dir: string, regions: readonly string[]): Promise<UpCertificates> {
  const caFile = join(dir, 'ca.crt');
  if (!existsSync(caFile)) await createCa({ dir, commonName: 'geogate local cluster CA' });
  const ensure = async (node: NodeIdentity) => {
    const base = join(dir, nodeFileBase(node));
    if (!existsSync(`${base}.crt`)) await createNodeCert({ dir, node, overwrite: true });
    return { certFile: `${base}.crt`, keyFile: `${base}.key`, caFile };
  };
  const map = new Map<string, { certFile: string; keyFile: string; caFile: string }>();
  for (const region of regions) map.set(region, await ensure({ region }));
  return { caFile, witness: await ensure({ witness: true }), regions: map };
}
