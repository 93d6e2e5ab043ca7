/**
 * The operator CLI as a process (`node --import tsx infra/cli/run.ts`, the code bin/geogate.js
 * runs compiled) against a real 2-region cluster (redis-servers, gateways, witness, WAN
 * relays): human and --json output, exit codes, a stopped region named, config check,
 * conflicts --follow --ack printing and acknowledging a conflict made during the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, eventually, TEST_SECRET } from '../helpers/cluster.js';
import { freePort, freePortRange } from '../../infra/local/ports.js';
import { runUp } from '../../infra/local/up.js';

const TOKEN = 'cli-test-admin-token-0123';
const CLI = ['--import', 'tsx', 'infra/cli/run.ts'];

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geogate-cli-test-'));
  cluster = await startCluster(['east', 'west'], { wan: true, witness: true, extra: { admin: { token: TOKEN } } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (the gateways answer from its event loop). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI, ...args], { encoding: 'utf8', env: { ...process.env, GEOGATE_ADMIN_TOKEN: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const eastUrl = () => cluster.byName('east').gateway.url;

describe('geogate status', () => {
  it('a compact table of both regions and their links; --partitions adds the owners; --json the raw /v1/cluster', async () => {
    let r = await cli(['status', '--url', eastUrl()]);
    // right after the start a link may still be suspect: exit 1 then, 0 once it settled
    expect(await eventually(async () => (r = await cli(['status', '--url', eastUrl()])).code === 0, 15_000, 300)).toBe(true);
    expect(r.stdout).toMatch(/^REGION\s+ANSWER\s+STORE\s+BOOTSTRAP\s+LEASES\s+DIVERGED\s+PENDING\s+WITNESS$/m);
    expect(r.stdout).toMatch(/^east\s+\d+\.\d ms\s+ok\s+done\s+\d+\s+0\s+0\s+reachable$/m);
    expect(r.stdout).toMatch(/^west\s+\d+(\.\d)? ms\s+ok\s+done\s+\d+\s+0\s+0\s+reachable$/m);
    expect(r.stdout).toMatch(/^east → west\s+up\s+established\s+/m);
    expect(r.stdout).toMatch(/^west → east\s+up\s+established\s+/m);
    expect(r.stdout).not.toMatch(/partitions as/);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(120);

    const p = await cli(['status', '--url', eastUrl(), '--partitions']);
    expect(p.stdout).toMatch(/orders \(single-master, fence, 8 partitions\)/);
    expect(p.stdout).toMatch(/carts \(multi-master, diverge, 8 partitions\)/);
    expect(p.stdout).toMatch(/^ {4}(east|west): \d+ \[[\d,-]+\]$/m);

    const j = await cli(['status', '--url', eastUrl(), '--json']);
    expect(j.code).toBe(0);
    const body = JSON.parse(j.stdout) as { region: string; regions: { region: string; ok: boolean; status: { region: string } }[] };
    expect(body.region).toBe('east');
    expect(body.regions.map((x) => [x.region, x.ok, x.status.region])).toEqual([['east', true, 'east'], ['west', true, 'west']]);

    // --local --json: the asked gateway's own /v1/status, as `status` printed it before
    const local = await cli(['status', '--url', eastUrl(), '--local', '--json']);
    expect(local.code).toBe(0);
    const own = JSON.parse(local.stdout) as { region: string; peers: { region: string }[]; keyspaces: unknown[] };
    expect(own.region).toBe('east');
    expect(own.peers.map((x) => x.region)).toEqual(['west']);
    expect(own.keyspaces).toHaveLength(2);
  }, 60_000);

  it('exit 1 naming the URL when the gateway asked does not answer; exit 2 on a usage error', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(['status', '--url', dead]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dead}/v1/cluster: connection refused`);
    expect((await cli(['status', '--bogus'])).code).toBe(2);
    expect((await cli(['status', '--url', 'ftp://x'])).code).toBe(2);
    expect((await cli(['conflicts', '--url', eastUrl(), '--limit', '0'])).code).toBe(2);
    expect((await cli(['conflicts', '--url', eastUrl(), '--ack', '--keyspace', 'carts'])).code).toBe(2);
    expect((await cli(['nonsense'])).code).toBe(2);
  }, 60_000);
});

describe('geogate status against a gateway without /v1/cluster', () => {
  it('shows that gateway alone from its /v1/status', async () => {
    // a gateway of an earlier version: /v1/cluster is no route there
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/status') res.end(JSON.stringify({ region: 'old', cluster: 'c', store: { ok: true }, keyspaces: [], peers: [], bootstrap: { state: 'done', writesOpen: true } }));
      else { res.statusCode = 404; res.end(JSON.stringify({ error: { code: 'no_route', message: `no route for GET ${req.url}` } })); }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const r = await cli(['status', '--url', `http://127.0.0.1:${(server.address() as { port: number }).port}`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^old\s+yes\s+ok\s+done\s+unknown\s+0\s+unknown\s+unknown$/m);
    } finally {
      server.close();
    }
  }, 30_000);
});

describe('geogate config check', () => {
  const gateway = (extra: Record<string, unknown>) => ({
    region: 'east', listen: { host: '127.0.0.1', port: 7101 }, publicUrl: 'http://127.0.0.1:7101', redis: { url: 'redis://127.0.0.1:6379' },
    cluster: { id: 'c1', secret: TEST_SECRET, regions: ['east', 'west'] },
    peers: [{ region: 'west', url: 'http://127.0.0.1:7102' }],
    keyspaces: [{ name: 'orders', partitions: 8, onSplit: 'fence' }], ...extra,
  });
  const witness = (extra: Record<string, unknown>) => ({
    listen: { host: '127.0.0.1', port: 7100 }, cluster: { id: 'c1', secret: TEST_SECRET, regions: ['east', 'west'] },
    keyspaces: [{ name: 'orders', partitions: 8, onSplit: 'fence' }], stateFile: 'state.json', ...extra,
  });
  const file = (name: string, body: unknown) => {
    const f = join(dir, name);
    writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body));
    return f;
  };

  it('ok with exit 0 for a good gateway and witness config; exit 1 with the field for a bad one; exit 2 without a file', async () => {
    const good = await cli(['config', 'check', file('gw.json', gateway({}))]);
    expect(good).toMatchObject({ code: 0 });
    expect(good.stdout).toMatch(/^ok: .*gw\.json is a valid gateway config \(region east, 1 peers, 1 keyspaces\)$/m);
    const w = await cli(['config', 'check', file('w.json', witness({}))]);
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/valid witness config/);

    const bad = await cli(['config', 'check', file('bad.json', gateway({ keyspaces: [{ name: 'orders', partitions: 0, onSplit: 'fence' }] }))]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.json: keyspaces(\[0\]|\.0)\.partitions: /);
    const badW = await cli(['config', 'check', file('badw.json', witness({ listen: { port: 'x' } }))]);
    expect(badW.code).toBe(1);
    expect(badW.stderr).toMatch(/badw\.json: listen\.port: /);
    const notJson = await cli(['config', 'check', file('broken.json', '{ "region": ')]);
    expect(notJson.code).toBe(1);
    // --kind forces the loader: a witness file read as a gateway config names what it lacks
    const forced = await cli(['config', 'check', '--kind', 'gateway', join(dir, 'w.json'), '--json']);
    expect(forced.code).toBe(1);
    expect(JSON.parse(forced.stdout)).toMatchObject({ ok: false, kind: 'gateway' });
    expect((await cli(['config', 'check'])).code).toBe(2);
    expect((await cli(['config', 'check', join(dir, 'gw.json'), '--kind', 'router'])).code).toBe(2);
  }, 60_000);
});

describe('geogate conflicts, decisions, restore', () => {
  it('--follow --ack prints a conflict made while it runs, acknowledges it at its region, stops on SIGINT with exit 0', async () => {
    const child = spawn(process.execPath, [...CLI, 'conflicts', '--url', eastUrl(), '--follow', '--interval-ms', '200', '--ack'], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      expect(await eventually(() => stderr.includes('following the conflict journals of east, west'), 15_000)).toBe(true);
      const east = cluster.byName('east');
      const west = cluster.byName('west');
      cluster.relay('east', 'west').cut('both', 'blackhole');
      cluster.relay('west', 'east').cut('both', 'blackhole');
      expect((await fetch(`${east.gateway.url}/v1/kv/carts/c-follow`, { method: 'PUT', body: 'from-east' })).status).toBeLessThan(300);
      expect((await fetch(`${west.gateway.url}/v1/kv/carts/c-follow`, { method: 'PUT', body: 'from-west' })).status).toBeLessThan(300);
      cluster.healAll();
      expect(await eventually(() => /carts\/\d+\/c-follow\s+key-conflict\s+lww\s+kept/.test(stdout), 20_000, 100)).toBe(true);
      const line = stdout.split('\n').find((l) => l.includes('c-follow'))!;
      const region = line.split(/\s+/)[1]!;
      expect(['east', 'west']).toContain(region);
      expect(stdout.split('\n').filter((l) => l.includes('c-follow'))).toHaveLength(1);
      // the journal that holds it has its acknowledged id moved up to the entry
      const journalAt = cluster.byName(region).gateway.url;
      expect(await eventually(async () => {
        const j = await (await fetch(`${journalAt}/v1/conflicts?keyspace=carts`)).json() as { conflicts: { id: string; key: string }[]; acked: string | null };
        const entry = j.conflicts.find((x) => x.key === 'c-follow');
        return entry !== undefined && j.acked !== null && compareIds(j.acked, entry.id) >= 0;
      }, 5000, 100)).toBe(true);
      expect(stderr).toMatch(new RegExp(`acknowledged ${region}'s journal up to \\d+-\\d+`));
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);

    // the plain listing has it once, and --json is the cluster route's body
    const list = await cli(['conflicts', '--url', eastUrl(), '--keyspace', 'carts']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n').filter((l) => l.includes('c-follow'))).toHaveLength(1);
    const j = JSON.parse((await cli(['conflicts', '--url', eastUrl(), '--json'])).stdout) as { conflicts: { key: string }[]; regions: unknown[] };
    expect(j.conflicts.filter((x) => x.key === 'c-follow')).toHaveLength(1);
    expect(j.regions).toHaveLength(2);

    // without --follow, --ack acknowledges at each region up to the newest entry printed from it
    const marker = `c-ack-${Date.now()}`;
    cluster.relay('east', 'west').cut('both', 'blackhole');
    cluster.relay('west', 'east').cut('both', 'blackhole');
    await (await fetch(`${eastUrl()}/v1/kv/carts/${marker}`, { method: 'PUT', body: 'e' })).arrayBuffer();
    await (await fetch(`${cluster.byName('west').gateway.url}/v1/kv/carts/${marker}`, { method: 'PUT', body: 'w' })).arrayBuffer();
    cluster.healAll();
    let acked = { code: -1, stdout: '', stderr: '' };
    expect(await eventually(async () => (acked = await cli(['conflicts', '--url', eastUrl(), '--ack', '--limit', '1000'])).stdout.includes(marker), 20_000, 300)).toBe(true);
    expect(acked.code).toBe(0);
    const holder = acked.stdout.split('\n').find((l) => l.includes(marker))!.split(/\s+/)[1]!;
    expect(acked.stderr).toMatch(new RegExp(`acknowledged ${holder}'s journal up to \\d+-\\d+`));
    const journal = await (await fetch(`${cluster.byName(holder).gateway.url}/v1/conflicts?limit=1000`)).json() as { conflicts: { id: string; key: string }[]; acked: string | null };
    const entry = journal.conflicts.find((x) => x.key === marker)!;
    expect(compareIds(journal.acked!, entry.id)).toBeGreaterThanOrEqual(0);
  }, 90_000);

  it('decisions: one line per ownership change with exit 0, --json the merged body with the witness', async () => {
    const r = await cli(['decisions', '--url', eastUrl()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+ ownership changes$/m);
    const j = JSON.parse((await cli(['decisions', '--url', eastUrl(), '--json'])).stdout) as { witness: { ok: boolean }; regions: { ok: boolean }[] };
    expect(j.witness.ok).toBe(true);
    expect(j.regions.every((x) => x.ok)).toBe(true);
  }, 60_000);

  it('restore: refused without the token (2) or without --yes off a terminal (2); with both it merges and prints the stats', async () => {
    const args = ['restore', '--url', eastUrl(), '--keyspace', 'carts', '--partition', '1', '--source', 'west'];
    expect((await cli(args)).code).toBe(2);
    const noYes = await cli(args, { GEOGATE_ADMIN_TOKEN: TOKEN });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/pass --yes/);
    const wrong = await cli([...args, '--yes', '--token', 'wrong-token-wrong-token']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/HTTP 401/);
    const ok = await cli([...args, '--yes'], { GEOGATE_ADMIN_TOKEN: TOKEN });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^restored carts\/1 at http:\/\/127\.0\.0\.1:\d+ from west: \{.*\}$/m);
    const unknown = await cli(['restore', '--url', eastUrl(), '--keyspace', 'nope', '--partition', '1', '--source', 'west', '--yes', '--token', TOKEN]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown keyspace "nope"/);
  }, 60_000);

  it('with a region stopped: status exits 1 naming it, conflicts and decisions still list what the others hold and exit 1', async () => {
    await cluster.stopGateway('west');
    const s = await cli(['status', '--url', eastUrl()]);
    expect(s.code).toBe(1);
    expect(s.stdout).toMatch(/^west\s+no\s+/m);
    expect(s.stderr).toMatch(/west did not answer at http:\/\/127\.0\.0\.1:\d+: (connection refused|connection reset|timeout after 1000 ms)/);
    const c = await cli(['conflicts', '--url', eastUrl()]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/west did not answer/);
    const d = await cli(['decisions', '--url', eastUrl()]);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/west did not answer/);
  }, 60_000);
});

describe('over TLS (geogate up --tls)', () => {
  it('status and decisions with --ca: the asked gateway reaches its peer over mutual TLS and the witness over TLS', async () => {
    const upDir = mkdtempSync(join(tmpdir(), 'geogate-cli-tls-'));
    const up = await runUp({ regions: 2, basePort: await freePortRange(8), dir: upDir, wanDelayMs: 0, quiet: true, tls: true });
    try {
      const url = up.gateways[0]!.url;
      const ca = join(upDir, 'certs', 'ca.crt');
      expect(url).toMatch(/^https:/);
      let s = await cli(['status', '--url', url, '--ca', ca, '--json']);
      expect(await eventually(async () => (s = await cli(['status', '--url', url, '--ca', ca, '--json'])).code === 0, 15_000, 300)).toBe(true);
      const body = JSON.parse(s.stdout) as { regions: { region: string; ok: boolean; url: string }[] };
      expect(body.regions.map((r) => [r.region, r.ok])).toEqual([['east', true], ['west', true]]);
      expect(body.regions[1]!.url).toMatch(/^https:/);
      const d = JSON.parse((await cli(['decisions', '--url', url, '--ca', ca, '--json'])).stdout) as { witness: { ok: boolean; url: string } };
      expect(d.witness).toMatchObject({ ok: true });
      expect(d.witness.url).toMatch(/^https:/);
      // without the CA the CLI names the URL it could not verify
      const noCa = await cli(['status', '--url', url]);
      expect(noCa.code).toBe(1);
      expect(noCa.stderr).toContain(`${url}/v1/cluster:`);
    } finally {
      await up.close();
      rmSync(upDir, { recursive: true, force: true });
    }
  }, 90_000);
});

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am! - bm! || as! - bs!;
}
