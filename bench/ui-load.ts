/**
 * The status page's cost (docs/status-page.md, docs/benchmarks.md): a 3-region cluster with a
 * witness, two keyspaces of 256 partitions each (real redis-servers, in-process gateways),
 * the page in headless Chromium. Measures
 *  - page load: navigation to the first drawn refresh, median of `loads` loads;
 *  - bytes per refresh: what the page read in a plain refresh (/v1/cluster) and in one that
 *    also reads decisions and conflicts, and /v1/cluster's body alone;
 *  - the cost on the gateway: PUT throughput at east (carts, multi-master: every key local)
 *    with the page open on east refreshing every `refreshS` against the browser on
 *    about:blank, rounds alternated in the same run.
 * node --import tsx bench/ui-load.ts [--rounds 3] [--duration 8] [--refresh 2] [--connections 16]
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import puppeteer, { type Page } from 'puppeteer-core';
import { startCluster, eventually } from '../test/helpers/cluster.js';
import { runLoad, type LoadResult } from './load.js';
import { median, round } from './stats.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const rounds = arg('rounds', 3);
const durationS = arg('duration', 8);
const refreshS = arg('refresh', 2);
const connections = arg('connections', 16);
const loads = arg('loads', 5);
const PARTITIONS = 256;

const cluster = await startCluster(['east', 'west', 'north'], {
  witness: true,
  extra: {
    keyspaces: [
      { name: 'orders', partitions: PARTITIONS, onSplit: 'fence' },
      { name: 'carts', partitions: PARTITIONS, onSplit: 'diverge', writes: 'multi-master' },
    ],
  },
});
const browser = await puppeteer.launch({ executablePath: process.env.GEOGATE_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
try {
  const east = cluster.byName('east').gateway.url;
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const meta = (p: Page, attr: string) => p.$eval('#meta', (e, a) => Number(e.getAttribute(a) ?? 0), attr);

  // page load, the first refresh reads the lists too
  const loadMs: number[] = [];
  let firstBytes = 0;
  for (let i = 0; i < loads; i++) {
    const t0 = performance.now();
    await page.goto(`${east}/ui?refresh=${refreshS}`, { waitUntil: 'load' });
    if (!(await eventually(async () => (await meta(page, 'data-refreshes')) >= 1, 20_000, 10))) throw new Error('the page did not draw');
    loadMs.push(performance.now() - t0);
    firstBytes = await meta(page, 'data-last-bytes');
  }
  mkdirSync('test-output/ui', { recursive: true });
  await page.screenshot({ path: 'test-output/ui/bench-3x256.png', fullPage: true });
  const cells = await page.$$eval('.cell', (els) => els.length);
  if (cells !== 2 * PARTITIONS) throw new Error(`the page drew ${cells} partitions, not ${2 * PARTITIONS}`);
  // a plain refresh (not one that reads the lists)
  const n0 = await meta(page, 'data-refreshes');
  await eventually(async () => (await meta(page, 'data-refreshes')) >= n0 + 1, 20_000, 20);
  const plainBytes = await meta(page, 'data-last-bytes');
  const plainMs = await meta(page, 'data-last-ms');
  const clusterBody = Buffer.byteLength(await (await fetch(`${east}/v1/cluster`)).text());
  const statusBody = Buffer.byteLength(await (await fetch(`${east}/v1/status`)).text());
  // what serving one refresh costs: wall time and CPU of this process (the three gateways
  // and the client are in it) over sequential /v1/cluster requests
  const SAMPLES = 20;
  const clusterMs: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    await (await fetch(`${east}/v1/cluster`)).text();
    clusterMs.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMsPerCluster = (cpu.user + cpu.system) / 1000 / SAMPLES;

  const load = (): Promise<LoadResult> => runLoad('PUT', { baseUrl: east, keyspace: 'carts', keysMax: 10_000, valueBytes: 100, connections, durationS });
  await load(); // warm-up
  const runs: { phase: 'without' | 'with'; r: LoadResult; refreshes: number; loadavg1: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    await page.goto('about:blank');
    runs.push({ phase: 'without', r: await load(), refreshes: 0, loadavg1: loadavg()[0]! });
    await page.goto(`${east}/ui?refresh=${refreshS}`);
    await eventually(async () => (await meta(page, 'data-refreshes').catch(() => 0)) >= 1, 20_000, 20);
    const before = await meta(page, 'data-refreshes');
    const r = await load();
    runs.push({ phase: 'with', r, refreshes: (await meta(page, 'data-refreshes')) - before, loadavg1: loadavg()[0]! });
  }
  const agg = (phase: string) => {
    const rs = runs.filter((x) => x.phase === phase);
    return {
      reqPerS: round(median(rs.map((x) => x.r.reqPerS))), p99Ms: round(median(rs.map((x) => x.r.latencyP99Ms))),
      non2xx: rs.reduce((a, x) => a + x.r.non2xx + x.r.errors, 0), refreshes: rs.reduce((a, x) => a + x.refreshes, 0),
    };
  };
  const without = agg('without');
  const withPage = agg('with');
  const out = {
    setup: { regions: 3, keyspaces: 2, partitionsPerKeyspace: PARTITIONS, refreshS, rounds, durationS, connections, gateways: 'in-process (one node process with the load generator)', browser: 'chromium headless on the same machine' },
    pageLoadMs: { median: round(median(loadMs)), all: loadMs.map((x) => round(x)) },
    bytesPerRefresh: { plain: plainBytes, withLists: firstBytes, clusterBody, statusBodyOneRegion: statusBody, plainRefreshMs: plainMs },
    clusterRequest: { medianMs: round(median(clusterMs)), cpuMsPerRequest: round(cpuMsPerCluster), samples: SAMPLES },
    put: { without, with: withPage, ratio: round(withPage.reqPerS / without.reqPerS, 3) },
    runs: runs.map((x) => ({ phase: x.phase, reqPerS: round(x.r.reqPerS), p99Ms: x.r.latencyP99Ms, refreshes: x.refreshes, loadavg1: round(x.loadavg1) })),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await browser.close().catch(() => {});
  await cluster.stop();
}
