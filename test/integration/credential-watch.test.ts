/**
 * Reload on file change (issue 12): a gateway and a witness that read their admin token and
 * cluster secret from files pick up a new token when the file changes, without SIGHUP or a
 * restart; a file that cannot be read keeps the credentials in use (logged, counted).
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWitness } from '../../witness/index.js';
import { freePort } from '../../infra/local/ports.js';
import { eventually, startRegion, TEST_SECRET } from '../helpers/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'geogate-credwatch-'));
const OLD = 'old-token-0123456789abcdef';
const NEW = 'new-token-0123456789abcdef';
const tokenFile = join(dir, 'admin.token');
const secretFile = join(dir, 'cluster.secret');
let region: Awaited<ReturnType<typeof startRegion>>;
let witness: Awaited<ReturnType<typeof runWitness>>;
let gatewayUrl = '';

/** Replaces a file as secret managers and editors do: write beside it, rename over it. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const status = async (url: string, path: string, token: string) =>
  (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;

async function reloads(url: string, result: 'ok' | 'failed'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${NEW}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('geogate_credentials_reloads_total{') && l.includes(`result="${result}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

beforeAll(async () => {
  writeFileSync(tokenFile, `${OLD}\n`);
  writeFileSync(secretFile, `${TEST_SECRET}\n`);
  region = await startRegion('east', ['east'], {
    cluster: { id: 'test', secretFile, regions: ['east'] },
    admin: { tokenFile, protectReads: true }, credentials: { watchMs: 100 },
  });
  gatewayUrl = region.gateway.url;
  const witnessFile = join(dir, 'witness.json');
  writeFileSync(witnessFile, JSON.stringify({
    listen: { host: '127.0.0.1', port: await freePort() }, stateFile: join(dir, 'witness.state'),
    cluster: { id: 'test', secretFile, regions: ['east'] }, credentials: { watchMs: 100 },
    admin: { tokenFile, protectReads: true }, keyspaces: [{ name: 'orders', partitions: 2 }],
  }));
  witness = await runWitness(witnessFile, { init: true });
});

afterAll(async () => {
  await region?.stop();
  await witness?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('credentials reloaded when their files change', () => {
  it('a new admin token file is picked up by the gateway and the witness; the old token is refused after', async () => {
    for (const [url, path] of [[gatewayUrl, '/v1/status'], [witness.url, '/v1/status']] as const) {
      expect(await status(url, path, OLD)).toBe(200);
      expect(await status(url, path, NEW)).toBe(401);
    }
    replace(tokenFile, `${NEW}\n`);
    for (const [url, path] of [[gatewayUrl, '/v1/status'], [witness.url, '/v1/status']] as const) {
      expect(await eventually(async () => (await status(url, path, NEW)) === 200, 5000)).toBe(true);
      expect(await status(url, path, OLD)).toBe(401);
    }
    expect(await reloads(gatewayUrl, 'ok')).toBeGreaterThanOrEqual(1);
  });

  it('a file that cannot be read keeps the credentials in use, and the failed reload is counted', async () => {
    const failedBefore = await reloads(gatewayUrl, 'failed');
    replace(tokenFile, '# emptied by mistake\n');
    expect(await eventually(async () => (await reloads(gatewayUrl, 'failed')) > failedBefore, 5000)).toBe(true);
    expect(await status(gatewayUrl, '/v1/status', NEW)).toBe(200);
    expect(await status(witness.url, '/v1/status', NEW)).toBe(200);
    replace(tokenFile, `${NEW}\n`);
  });
});
