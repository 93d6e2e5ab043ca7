/**
 * Reload on file change with TLS files (issue 12): a change on disk that is valid PEM but not a
 * usable pair (the certificate replaced and its key not yet, or the key of another node) is
 * refused as a whole: the old credentials stay in use for the listener and every dial, the
 * failed reload is counted, and nothing escapes the watcher's timer (before, the listener's
 * setSecureContext threw from it: an uncaught exception that ended the process).
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createNodeCert } from '../../security/index.js';
import { startRegion } from '../helpers/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'geogate-tlswatch-'));
let region: Awaited<ReturnType<typeof startRegion>>;
let ca = '';
const uncaught: Error[] = [];
const onUncaught = (err: Error) => { uncaught.push(err); };

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, servername: 'localhost', agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  await createCa({ dir: join(dir, 'ca') });
  ca = readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8');
  const east = await createNodeCert({ dir: join(dir, 'ca'), node: { region: 'east' } });
  const other = await createNodeCert({ dir: join(dir, 'ca'), node: { region: 'west' } });
  copyFileSync(east.certFile, join(dir, 'east.crt'));
  copyFileSync(east.keyFile, join(dir, 'east.key'));
  copyFileSync(other.keyFile, join(dir, 'other.key'));
  process.prependListener('uncaughtException', onUncaught);
  region = await startRegion('east', ['east'], {
    tls: { certFile: join(dir, 'east.crt'), keyFile: join(dir, 'east.key'), caFile: join(dir, 'ca', 'ca.crt') },
    credentials: { watchMs: 100 },
  });
}, 60_000);

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await region?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('reload on file change with an unusable key/cert pair', () => {
  it('keeps the old credentials, counts a failed reload, does not throw from the watcher', async () => {
    const url = region.gateway.url.replace('http:', 'https:');
    expect(await get(`${url}/healthz`)).toBe(200);
    // the key of another node swapped in (a rotation mid-way: cert and key are not a pair)
    renameSync(join(dir, 'other.key'), join(dir, 'east.key'));
    await new Promise((r) => setTimeout(r, 1000));
    const metrics = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(`${url}/metrics`, { ca, servername: 'localhost', agent: false }, (res) => { let t = ''; res.on('data', (c) => { t += c; }); res.on('end', () => resolve(t)); });
      req.on('error', reject); req.end();
    });
    const line = (r: string) => metrics.split('\n').find((l) => l.startsWith('geogate_credentials_reloads_total{') && l.includes(`result="${r}"`));
    expect(uncaught.map((e) => e.message)).toEqual([]);
    expect(line('failed')).toBeDefined();
    // the material used for new outgoing dials must still be the old pair
    expect(region.gateway).toBeDefined();
    expect(await get(`${url}/healthz`)).toBe(200);
  });
});
