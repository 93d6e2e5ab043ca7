import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Credentials, CredentialsError, readSecrets, readTlsFiles, SECRETS_MAX, sourceProblem } from './credentials.js';
import { bearerToken, tokenAccepted } from './admin-token.js';
import { createCa, createNodeCert } from './certs.js';

const A = 'secret-aaaaaaaaaaaaaaaa';
const B = 'secret-bbbbbbbbbbbbbbbb';
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'geogate-cred-')); dirs.push(d); return d; };

describe('secrets from the config, a file or the environment', () => {
  it('inline (one or several), a file (one per line, comments skipped), a variable (comma-separated)', () => {
    const d = tmp();
    writeFileSync(join(d, 's'), `# rotation: the first signs\n${A}\n\n${B}\n`);
    expect(readSecrets({ inline: A }, 'cluster.secret', d)).toEqual([A]);
    expect(readSecrets({ inline: [B, A] }, 'cluster.secret', d)).toEqual([B, A]);
    expect(readSecrets({ file: 's' }, 'cluster.secret', d)).toEqual([A, B]);
    expect(readSecrets({ env: 'GG_S' }, 'cluster.secret', d, { GG_S: `${B}, ${A}` })).toEqual([B, A]);
    expect(readSecrets({}, 'admin.token', d)).toEqual([]);
  });

  it('names the field and the problem', () => {
    const d = tmp();
    writeFileSync(join(d, 'empty'), '# nothing\n');
    const fail = (f: () => unknown) => { try { f(); } catch (e) { return e as CredentialsError; } throw new Error('did not throw'); };
    expect(fail(() => readSecrets({ file: 'missing' }, 'cluster.secret', d))).toMatchObject({ field: 'cluster.secretFile', message: expect.stringMatching(/cannot read .*missing/) });
    expect(fail(() => readSecrets({ file: 'empty' }, 'cluster.secret', d))).toMatchObject({ field: 'cluster.secretFile', message: expect.stringMatching(/holds no cluster.secret/) });
    expect(fail(() => readSecrets({ env: 'GG_NONE' }, 'admin.token', d, {}))).toMatchObject({ field: 'admin.tokenEnv', message: 'environment variable GG_NONE is not set' });
    expect(fail(() => readSecrets({ env: 'GG_S' }, 'admin.token', d, { GG_S: 'short' }))).toMatchObject({ message: 'value 1 is shorter than 16 characters' });
    const many = Array.from({ length: SECRETS_MAX + 1 }, (_, i) => `${A}${i}`).join(',');
    expect(fail(() => readSecrets({ env: 'GG_S' }, 'admin.token', d, { GG_S: many }))).toMatchObject({ message: `at most ${SECRETS_MAX} values at once` });
    expect(sourceProblem({ inline: A, file: 'x' }, ['a', 'b', 'c'], true)).toBe('set only one of a, b, c');
    expect(sourceProblem({}, ['a', 'b', 'c'], true)).toBe('one of a, b, c is required');
    expect(sourceProblem({}, ['a', 'b', 'c'], false)).toBeNull();
  });

  it('reload reads again; a failed reload keeps the credentials in use', () => {
    const d = tmp();
    writeFileSync(join(d, 's'), `${A}\n`);
    const c = new Credentials({ secrets: { file: 's' }, baseDir: d });
    let reloads = 0;
    c.onReload(() => reloads++);
    expect(c.signingSecret()).toBe(A);
    writeFileSync(join(d, 's'), `${B}\n${A}\n`);
    c.reload();
    expect(c.secrets()).toEqual([B, A]);
    writeFileSync(join(d, 's'), 'short\n');
    expect(() => c.reload()).toThrow(CredentialsError);
    expect(c.secrets()).toEqual([B, A]);
    expect(reloads).toBe(1);
  });
});

describe('TLS files', () => {
  it('reads the certificate, the key, several CA files and the client-facing pair; names a file that is not PEM', async () => {
    const d = tmp();
    await createCa({ dir: join(d, 'ca') });
    const east = await createNodeCert({ dir: d, caDir: join(d, 'ca'), node: { region: 'east' } });
    const west = await createNodeCert({ dir: d, caDir: join(d, 'ca'), node: { region: 'west' } });
    const ca = readFileSync(join(d, 'ca', 'ca.crt'), 'utf8');
    writeFileSync(join(d, 'a.crt'), ca);
    writeFileSync(join(d, 'b.crt'), ca + ca);
    writeFileSync(join(d, 'bad.crt'), 'not a certificate');
    const m = readTlsFiles({ certFile: east.certFile, keyFile: east.keyFile, caFile: ['a.crt', 'b.crt'], client: { certFile: west.certFile, keyFile: west.keyFile } }, d);
    expect(m.ca).toHaveLength(2);
    expect(m.client?.key).toContain('PRIVATE KEY');
    expect(() => readTlsFiles({ certFile: east.certFile, keyFile: east.keyFile, caFile: 'bad.crt' }, d)).toThrow(/bad.crt is not PEM/);
    try { readTlsFiles({ certFile: 'missing.crt', keyFile: east.keyFile, caFile: 'a.crt' }, d); } catch (e) { expect((e as CredentialsError).field).toBe('tls.certFile'); }
  });

  it('refuses a certificate with another key (a rotation half done), naming both files, before anything is used', async () => {
    const d = tmp();
    await createCa({ dir: join(d, 'ca') });
    const east = await createNodeCert({ dir: d, caDir: join(d, 'ca'), node: { region: 'east' } });
    const west = await createNodeCert({ dir: d, caDir: join(d, 'ca'), node: { region: 'west' } });
    const caFile = join(d, 'ca', 'ca.crt');
    expect(() => readTlsFiles({ certFile: east.certFile, keyFile: west.keyFile, caFile }, d)).toThrow(/cannot be used together/);
    expect(() => readTlsFiles({ certFile: east.certFile, keyFile: east.keyFile, caFile, client: { certFile: west.certFile, keyFile: east.keyFile } }, d)).toThrow(/tls.client .*cannot be used together/);
    // a PEM whose body is not a key at all (half written) is refused the same way
    writeFileSync(join(d, 'half.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n');
    expect(() => readTlsFiles({ certFile: east.certFile, keyFile: 'half.key', caFile }, d)).toThrow(/cannot be used together/);
  });
});

describe('admin token', () => {
  it('accepts any configured token, only as a Bearer token', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(tokenAccepted(B, [A, B])).toBe(true);
    expect(tokenAccepted(`${B}x`, [A, B])).toBe(false);
    expect(tokenAccepted(undefined, [A])).toBe(false);
    expect(tokenAccepted(A, [])).toBe(false);
  });
});
