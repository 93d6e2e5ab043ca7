import { afterEach, describe, expect, it, vi } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); vi.restoreAllMocks(); });

function quiet() {
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
  return err;
}

describe('geogate certs', () => {
  it('create-ca, create-node --region, create-witness: a CA and node certificates naming their identity, keys 0600', async () => {
    quiet();
    const dir = mkdtempSync(join(tmpdir(), 'geogate-certs-'));
    dirs.push(dir);
    expect(await main(['certs', 'create-ca', '--dir', dir])).toBe(0);
    expect(await main(['certs', 'create-node', '--dir', dir, '--region', 'east', '--host', 'east.example', '--host', '10.0.0.7'])).toBe(0);
    expect(await main(['certs', 'create-witness', '--dir', dir, '--days', '30'])).toBe(0);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    expect(ca.ca).toBe(true);
    const east = new X509Certificate(readFileSync(join(dir, 'region-east.crt')));
    expect(east.subjectAltName).toBe('URI:geogate://region/east, DNS:east.example, IP Address:10.0.0.7');
    expect(east.checkIssued(ca)).toBe(true);
    expect(east.verify(ca.publicKey)).toBe(true);
    expect(east.ca).toBe(false);
    expect(east.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'region-east.key'))))).toBe(true);
    const witness = new X509Certificate(readFileSync(join(dir, 'witness.crt')));
    expect(witness.subjectAltName).toBe('URI:geogate://witness, DNS:localhost, IP Address:127.0.0.1');
    const days = (new Date(witness.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThan(31);
    for (const key of ['ca.key', 'region-east.key', 'witness.key']) expect(statSync(join(dir, key)).mode & 0o777).toBe(0o600);
  });

  it('refuses to overwrite, to sign without a CA, and a bad region, naming the problem', async () => {
    const err = quiet();
    const dir = mkdtempSync(join(tmpdir(), 'geogate-certs-'));
    dirs.push(dir);
    expect(await main(['certs', 'create-node', '--dir', dir, '--region', 'east'])).toBe(1);
    expect(err.join('')).toMatch(/no CA in .*run 'geogate certs create-ca/);
    expect(await main(['certs', 'create-ca', '--dir', dir])).toBe(0);
    expect(await main(['certs', 'create-ca', '--dir', dir])).toBe(1);
    expect(err.join('')).toMatch(/ca.crt exists \(pass --overwrite/);
    expect(await main(['certs', 'create-ca', '--dir', dir, '--overwrite'])).toBe(0);
    expect(await main(['certs', 'create-node', '--dir', dir, '--region', 'East!'])).toBe(2);
    expect(await main(['certs', 'create-node', '--dir', dir])).toBe(2);
    expect(await main(['certs', 'sign', '--dir', dir])).toBe(2);
  });
});
