/**
 * infra/monitoring/: every metric the Grafana dashboard and the Prometheus alert rules name is
 * exported by a running gateway or witness (a local cluster over TLS, so the certificate
 * expiry gauge is there too); promtool accepts the rules and the example configuration, and
 * the rules' unit tests (alerts.test.yml) pass.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type LocalCluster } from '../../infra/local/up.js';
import { freePort, freePortRange } from '../../infra/local/ports.js';
import { baseMetric, dashboardExpressions, exportedLabels, exportedMetrics, expressionLabels, ruleExpressions, seriesNames } from '../../infra/monitoring/index.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const MONITORING = join(ROOT, 'infra/monitoring');
const RULES_FILE = join(MONITORING, 'alerts.yml');
const PROMETHEUS_CONFIG = join(MONITORING, 'prometheus.yml');
const RULE_TESTS = join(MONITORING, 'alerts.test.yml');
const DASHBOARD_FILE = join(MONITORING, 'grafana-dashboard.json');
const PROMTOOL_TIMEOUT_MS = 30_000;
/** Bounds of the live Prometheus check: start and first scrapes, the alert after the cut. */
const PROMETHEUS_READY_TIMEOUT_MS = 30_000;
const ALERT_TIMEOUT_MS = 30_000;
const PROMETHEUS_POLL_MS = 250;
const PROMETHEUS_STOP_TIMEOUT_MS = 10_000;
const SCRAPE_BYTES_MAX = 4 * 1024 * 1024;
/** Series Prometheus makes itself for every scrape target, not exported by any service. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

function scrape(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > SCRAPE_BYTES_MAX) req.destroy(new Error(`${url}: more than ${SCRAPE_BYTES_MAX} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

interface Named {
  where: string;
  expr: string;
}

function ruleExprs(text: string): Named[] {
  const names = [...text.matchAll(/^\s*-\s*(?:alert|record):\s*(\S+)/gm)].map((m) => m[1]!);
  return ruleExpressions(text).map((expr, i) => ({ where: `rule ${names[i] ?? i}`, expr }));
}

/** `where: name` for every name an expression reads that the services do not export. */
/** The gateways' view of the witness: named geogate_witness_* but exported by every gateway, not by the witness. */
const GATEWAY_WITNESS_METRICS = new Set(['geogate_witness_reachable', 'geogate_witness_last_answer_age_seconds']);

function unknownNames(exprs: readonly Named[], gateway: ReadonlySet<string>, witness: ReadonlySet<string>): string[] {
  const all = new Set([...gateway, ...witness]);
  const missing: string[] = [];
  for (const { where, expr } of exprs) {
    for (const series of seriesNames(expr)) {
      if (PROMETHEUS_SERIES.has(series)) continue;
      const name = baseMetric(series, all);
      const from = GATEWAY_WITNESS_METRICS.has(name) ? gateway : name.startsWith('geogate_witness_') ? witness : all;
      if (!from.has(name)) missing.push(`${where}: ${series}`);
    }
  }
  return missing;
}

/** Labels Prometheus adds to every series (job, instance) or a histogram's buckets carry (le). */
const SCRAPE_LABELS = ['job', 'instance', 'le'];

/**
 * `where: label` for every label an expression matches or groups on that no series of its
 * metrics carries. Only expressions whose every metric has samples can be judged; the others
 * are counted as skipped.
 */
function unknownLabels(exprs: readonly Named[], labels: ReadonlyMap<string, ReadonlySet<string>>): { missing: string[]; checked: number; skipped: number } {
  const missing: string[] = [];
  let checked = 0;
  let skipped = 0;
  for (const { where, expr } of exprs) {
    const names = seriesNames(expr).filter((n) => !PROMETHEUS_SERIES.has(n));
    if (names.some((n) => !labels.has(n))) {
      skipped += 1;
      continue;
    }
    checked += 1;
    const known = new Set([...SCRAPE_LABELS, ...names.flatMap((n) => [...labels.get(n)!])]);
    for (const label of expressionLabels(expr)) if (!known.has(label)) missing.push(`${where}: ${label}`);
  }
  return { missing, checked, skipped };
}

async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { timeout: PROMTOOL_TIMEOUT_MS });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('promtool is not installed: infra/scripts/setup.sh --test-tools installs it (Debian package prometheus); the alert rules are not checked without it');
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

async function promApi<T>(base: string, path: string): Promise<T | undefined> {
  try {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(3_000) });
    if (res.status !== 200) return undefined;
    return ((await res.json()) as { data: T }).data;
  } catch {
    return undefined;
  }
}

async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value: T | undefined;
  while (Date.now() < deadline) {
    value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, PROMETHEUS_POLL_MS));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), PROMETHEUS_STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

describe('monitoring files', () => {
  let dir: string;
  let cluster: LocalCluster;
  let gatewayNames: Set<string>;
  let witnessNames: Set<string>;
  let sampleLabels: Map<string, Set<string>>;
  const rulesText = readFileSync(RULES_FILE, 'utf8');
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: { id: number; type: string; title: string; gridPos: { x: number; w: number }; panels?: unknown[] }[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'geogate-monitoring-'));
    // wanDelayMs > 0: the link runs through WAN relays, which the last test cuts.
    cluster = await runUp({ regions: 2, basePort: await freePortRange(8), dir, wanDelayMs: 1, quiet: true, tls: true });
    const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
    const [east, west] = cluster.gateways;
    // A write and a read, so the request series have samples to take label names from.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${east!.url}/v1/kv/carts/monitoring`, { method: 'PUT', ca, timeout: 5_000 }, (res) => res.resume().on('end', resolve));
      req.on('error', reject);
      req.end('"x"');
    });
    const texts = [await scrape(`${east!.url}/metrics`, ca), await scrape(`${west!.url}/metrics`, ca)];
    const witnessText = await scrape(`${cluster.witnessUrl}/metrics`, ca);
    gatewayNames = new Set(texts.flatMap((t) => [...exportedMetrics(t)]));
    witnessNames = exportedMetrics(witnessText);
    sampleLabels = new Map();
    for (const text of [...texts, witnessText]) {
      for (const [name, set] of exportedLabels(text)) sampleLabels.set(name, new Set([...(sampleLabels.get(name) ?? []), ...set]));
    }
  });

  afterAll(async () => {
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the scrapes hold the gateway and witness metrics (the check below has something to compare with)', () => {
    expect(gatewayNames.has('geogate_replication_lag_ms')).toBe(true);
    expect(gatewayNames.has('geogate_tls_certificate_expiry_seconds')).toBe(true);
    expect(witnessNames.has('geogate_witness_decisions_total')).toBe(true);
  });

  it('every metric the alert rules name is exported', () => {
    const exprs = ruleExprs(rulesText);
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    expect(unknownNames(exprs, gatewayNames, witnessNames)).toEqual([]);
  });

  it('every metric the dashboard names is exported', () => {
    const exprs = dashboardExpressions(dashboard);
    expect(exprs.length).toBeGreaterThanOrEqual(30);
    expect(unknownNames(exprs, gatewayNames, witnessNames)).toEqual([]);
  });

  it('the labels the rules and the dashboard match or group on are labels of their metrics (where the metrics have samples)', () => {
    const result = unknownLabels([...ruleExprs(rulesText), ...dashboardExpressions(dashboard)], sampleLabels);
    console.log(`label check: ${result.checked} expressions checked, ${result.skipped} skipped (a metric without samples in an idle cluster)`);
    expect(result.missing).toEqual([]);
    expect(result.checked).toBeGreaterThanOrEqual(20);
    const bogus = unknownLabels([{ where: 'x', expr: 'sum by (region, colour) (geogate_store_up)' }], sampleLabels);
    expect(bogus).toEqual({ missing: ['x: colour'], checked: 1, skipped: 0 });
  });

  it('a rule naming a metric nobody exports is caught, and a witness metric is looked up at the witness', () => {
    const bogus = `${rulesText}\n      - alert: Bogus\n        expr: rate(geogate_no_such_metric_total{region="east"}[5m]) > 0\n`;
    expect(unknownNames(ruleExprs(bogus), gatewayNames, witnessNames)).toEqual(['rule Bogus: geogate_no_such_metric_total']);
    expect(unknownNames([{ where: 'x', expr: 'geogate_witness_quiet' }], gatewayNames, new Set())).toEqual(['x: geogate_witness_quiet']);
    // the gateways' view of the witness is looked up at the gateways only
    expect(unknownNames([{ where: 'x', expr: 'geogate_witness_reachable == 0' }], gatewayNames, witnessNames)).toEqual([]);
    expect(unknownNames([{ where: 'x', expr: 'geogate_witness_reachable == 0' }], new Set(), new Set([...gatewayNames, ...witnessNames]))).toEqual(['x: geogate_witness_reachable']);
    expect(unknownNames([{ where: 'x', expr: 'histogram_quantile(0.9, rate(geogate_http_request_duration_seconds_bucket[5m]))' }], gatewayNames, witnessNames)).toEqual([]);
  });

  it('every alert has a summary, a description and a runbook link to a docs/monitoring.md section', () => {
    const docs = readFileSync(join(ROOT, 'docs/monitoring.md'), 'utf8').toLowerCase();
    const blocks = rulesText.split(/^\s*- alert:/m).slice(1);
    expect(blocks.length).toBe(ruleExprs(rulesText).length);
    for (const block of blocks) {
      const name = block.trim().split(/\s/)[0]!;
      expect(block, name).toMatch(/summary: "[^"]{10,}"/);
      expect(block, name).toMatch(/description: "[^"]{40,}"/);
      expect(block, name).toContain(`runbook_url: "docs/monitoring.md#${name.toLowerCase()}"`);
      expect(docs, `docs/monitoring.md has no section for ${name}`).toContain(`### ${name.toLowerCase()}`);
    }
  });

  it('the dashboard panels have unique ids, a Prometheus datasource and fit the 24-column grid', () => {
    const all = dashboard.panels.flatMap((p) => [p, ...((p.panels ?? []) as typeof dashboard.panels)]);
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    for (const p of all.filter((q) => q.type !== 'row')) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect((p as unknown as { datasource?: { type?: string } }).datasource?.type, p.title).toBe('prometheus');
    }
  });

  it('the rules fire when and as alerts.test.yml expects (promtool test rules)', async () => {
    const tests = await promtool(['test', 'rules', RULE_TESTS]);
    expect(tests.code, tests.output).toBe(0);
    expect(tests.output).toContain('SUCCESS');
  });

  it('promtool accepts the rules and the example Prometheus configuration, and refuses a broken rule', async () => {
    const rules = await promtool(['check', 'rules', RULES_FILE]);
    expect(rules.code, rules.output).toBe(0);
    expect(rules.output).toMatch(/SUCCESS: \d+ rules found/);
    const config = await promtool(['check', 'config', PROMETHEUS_CONFIG]);
    expect(config.code, config.output).toBe(0);
    const broken = join(dir, 'broken.yml');
    writeFileSync(broken, 'groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: rate(geogate_store_up[5m]\n');
    expect((await promtool(['check', 'rules', broken])).code).not.toBe(0);
  });

  it('a real Prometheus loads the rules, scrapes the cluster, runs every dashboard query, and GeogateReplicationLinkDown goes pending when the link is cut', async () => {
    const port = await freePort();
    const ca = join(dir, 'certs', 'ca.crt');
    const target = (url: string) => new URL(url).host;
    const [east, west] = cluster.gateways;
    const job = (name: string, targets: string[]) =>
      `  - job_name: ${name}\n    scheme: https\n    tls_config: { ca_file: "${ca}" }\n    static_configs:\n      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]\n`;
    const config = join(dir, 'prometheus-live.yml');
    writeFileSync(config, `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: ["${RULES_FILE}"]\nscrape_configs:\n`
      + job('geogate', [target(east!.url), target(west!.url)]) + job('geogate-witness', [target(cluster.witnessUrl)]));
    let prometheus: ChildProcess;
    try {
      prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'prometheus-data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
    } catch (err) {
      throw new Error(`prometheus could not be started (${(err as Error).message}): infra/scripts/setup.sh --test-tools installs it (Debian package prometheus)`);
    }
    const spawnError = new Promise<never>((_, reject) => prometheus.once('error', (err) => reject(new Error(`prometheus: ${err.message} (infra/scripts/setup.sh --test-tools installs it)`))));
    spawnError.catch(() => undefined);
    const base = `http://127.0.0.1:${port}/api/v1`;
    try {
      type Targets = { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
      const targets = await Promise.race([spawnError, pollUntil('three targets up', PROMETHEUS_READY_TIMEOUT_MS, async () => {
        const t = await promApi<Targets>(base, '/targets');
        return t && t.activeTargets.length === 3 && t.activeTargets.every((a) => a.health === 'up') ? t : undefined;
      })]);
      expect(targets.activeTargets.map((a) => a.labels.job).sort()).toEqual(['geogate', 'geogate', 'geogate-witness']);
      type Rules = { groups: { rules: { name: string; health: string }[] }[] };
      const rules = await pollUntil('rules evaluated', PROMETHEUS_READY_TIMEOUT_MS, async () => {
        const r = await promApi<Rules>(base, '/rules');
        const all = r?.groups.flatMap((g) => g.rules) ?? [];
        return all.length > 0 && all.every((x) => x.health === 'ok') ? all : undefined;
      });
      expect(rules.length).toBe(ruleExprs(rulesText).length);
      // Every dashboard query is valid PromQL to this Prometheus (Grafana's variables filled in).
      const invalid: string[] = [];
      for (const { where, expr } of dashboardExpressions(dashboard)) {
        const q = expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$region', '.*');
        const res = await fetch(`${base}/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(3_000) });
        if (res.status !== 200) invalid.push(`${where}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      }
      expect(invalid).toEqual([]);
      type Alerts = { alerts: { labels: Record<string, string>; state: string }[] };
      const linkAlerts = async () => ((await promApi<Alerts>(base, '/alerts'))?.alerts ?? []).filter((a) => a.labels.alertname === 'GeogateReplicationLinkDown');
      expect(await linkAlerts()).toEqual([]);
      expect(cluster.relays.length, 'WAN relays of the east-west link').toBe(2);
      for (const relay of cluster.relays) relay.cut('both', 'reset');
      // One alert per side of the link: east's link to west and west's to east.
      const pending = await pollUntil('GeogateReplicationLinkDown pending at both sides after the cut', ALERT_TIMEOUT_MS, async () => {
        const a = await linkAlerts();
        return a.length >= 2 ? a : undefined;
      });
      expect(pending.map((a) => `${a.labels.region}->${a.labels.peer}`).sort()).toEqual(['east->west', 'west->east']);
      expect(pending.every((a) => a.state === 'pending' || a.state === 'firing')).toBe(true);
    } finally {
      for (const relay of cluster.relays) relay.heal();
      await stopProcess(prometheus);
    }
  }, PROMETHEUS_READY_TIMEOUT_MS * 2 + ALERT_TIMEOUT_MS + PROMETHEUS_STOP_TIMEOUT_MS);
});
