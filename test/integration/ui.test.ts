/**
 * The status page in headless Chromium (puppeteer-core driving Debian's chromium) against a
 * running 3-region cluster: real gateways, a witness, a redis-server each, and a WAN relay on
 * every link so a link can be cut. The page must draw every region and every partition of
 * every keyspace, follow a cut link within a bound, render keys as text (never HTML), and
 * ask for the admin token when reads are protected. Screenshots go to test-output/ui/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startCluster, startRegion, eventually } from '../helpers/cluster.js';
import { UI_CSP } from '../../gateway/http/ui-routes.js';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

const CHROMIUM = process.env.GEOGATE_CHROMIUM ?? '/usr/bin/chromium';
const OUT = join(process.cwd(), 'test-output', 'ui');
/** The page refreshes every second here (?refresh=1); a cut link must show within this. */
const CUT_SHOWN_MS_MAX = 5000;

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let browser: Browser;
let cluster: Cluster | undefined;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: infra/scripts/setup.sh --test-tools installs Debian's chromium (or set GEOGATE_CHROMIUM)`);
  mkdirSync(OUT, { recursive: true });
  browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
});
afterAll(async () => { await browser?.close(); });
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); // browser contexts first: their keep-alive connections hold the servers open
  await cluster?.stop();
  cluster = undefined;
}, 60_000);

interface StatusBody { region: string; keyspaces: { name: string; partitions: { partition: number; active: string | null; state: string }[] }[] }

/** A page in its own browser context: closing the context drops its keep-alive sockets, which would hold a gateway's close. */
async function newPage(): Promise<Page> {
  const context = await browser.createBrowserContext();
  cleanups.push(() => context.close());
  return context.newPage();
}

const refreshes = (page: Page) => page.$eval('#meta', (e) => Number(e.getAttribute('data-refreshes') ?? 0));
const cellState = (page: Page, from: string, to: string) =>
  page.$eval(`#matrix td[data-from="${from}"][data-to="${to}"]`, (e) => e.getAttribute('data-state') ?? '').catch(() => 'missing');
async function waitRefreshes(page: Page, n: number, timeoutMs = 10_000): Promise<void> {
  expect(await eventually(async () => (await refreshes(page)) >= n, timeoutMs, 100)).toBe(true);
}

describe('status page /ui (headless Chromium, real cluster)', () => {
  it('draws every region and partition, follows a cut link, renders keys as text', async () => {
    cluster = await startCluster(['east', 'west', 'north'], { wan: true, witness: true });
    const c = cluster;
    const east = c.byName('east').gateway;
    const page = await newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    const xss: string[] = [];
    page.on('dialog', (d) => { xss.push(d.message()); void d.dismiss(); });

    const t0 = Date.now();
    const res = await page.goto(`${east.url}/?refresh=1`, { waitUntil: 'load' });
    expect(page.url()).toBe(`${east.url}/ui?refresh=1`); // / redirects to the page
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toBe(UI_CSP);
    await waitRefreshes(page, 1);
    const loadMs = Date.now() - t0;

    const status = await (await fetch(`${east.url}/v1/status`)).json() as StatusBody;
    // every region in the table and in the matrix, links up
    const rows = await page.$$eval('#regions tr[data-region]', (trs) => trs.map((t) => t.getAttribute('data-region')));
    expect(rows.sort()).toEqual(['east', 'north', 'west']);
    // the links may still be coming up when the cluster first takes writes
    for (const [from, to] of [['east', 'west'], ['east', 'north'], ['west', 'north'], ['north', 'east']]) {
      expect(await eventually(async () => (await cellState(page, from!, to!)) === 'up', 10_000, 100), `${from} -> ${to}`).toBe(true);
    }
    // every partition of every keyspace, coloured by the owner east reports
    for (const ks of status.keyspaces) {
      const cells = await page.$$eval(`.cell[data-keyspace="${ks.name}"]`, (els) => els.map((e) => ({ p: Number(e.getAttribute('data-partition')), owner: e.getAttribute('data-owner') })));
      expect(cells.map((x) => x.p)).toEqual(ks.partitions.map((p) => p.partition));
      expect(await eventually(async () => {
        const now = await (await fetch(`${east.url}/v1/status`)).json() as StatusBody;
        const shown = await page.$$eval(`.cell[data-keyspace="${ks.name}"]`, (els) => els.map((e) => e.getAttribute('data-owner')));
        return JSON.stringify(shown) === JSON.stringify(now.keyspaces.find((k) => k.name === ks.name)!.partitions.map((p) => p.active ?? 'unknown'));
      }, 5000, 200)).toBe(true);
    }
    const bytes = await page.$eval('#meta', (e) => Number(e.getAttribute('data-last-bytes')));
    expect(bytes).toBeGreaterThan(0);
    await page.screenshot({ path: join(OUT, 'cluster.png'), fullPage: true });
    console.log(`status page: first render ${loadMs} ms after navigation, ${bytes} bytes in the last refresh`);

    // a key east resolves conflicts for (carts: multi-master, diverges on a split)
    const carts = status.keyspaces.find((k) => k.name === 'carts')!;
    const map = c.byName('east').gateway.context.maps.get('carts')!;
    let key = '';
    for (let i = 0; i < 10_000 && !key; i++) {
      const k = `<img src=x onerror=alert(${i})>`;
      if (carts.partitions[map.place(k).partition]!.active === 'east') key = k;
    }
    expect(key).not.toBe('');

    // cut east <-> west: the matrix cell must leave 'up' within the bound
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    const cutAt = Date.now();
    expect(await eventually(async () => (await cellState(page, 'east', 'west')) !== 'up', CUT_SHOWN_MS_MAX, 100)).toBe(true);
    const shownMs = Date.now() - cutAt;
    expect(await cellState(page, 'east', 'north')).toBe('up');
    console.log(`cut link east<->west shown as ${await cellState(page, 'east', 'west')} after ${shownMs} ms`);
    // both sides write the key while split; the heal merges it into a journaled conflict
    const path = `carts/${encodeURIComponent(key)}`;
    expect((await fetch(`${east.url}/v1/kv/${path}`, { method: 'PUT', body: 'from east' })).status).toBeLessThan(300);
    expect((await fetch(`${c.byName('west').gateway.url}/v1/kv/${path}`, { method: 'PUT', body: 'from west' })).status).toBeLessThan(300);
    await page.screenshot({ path: join(OUT, 'link-cut.png'), fullPage: true });
    c.healAll();
    expect(await eventually(async () => (await cellState(page, 'east', 'west')) === 'up', 10_000, 100)).toBe(true);
    expect(await eventually(async () => (await page.$$eval('#conflicts td', (tds) => tds.map((t) => t.textContent))).includes(key), 20_000, 200)).toBe(true);
    expect(await page.$$eval('#conflicts img', (imgs) => imgs.length)).toBe(0); // the key is text, not markup
    expect(xss).toEqual([]);
    await page.screenshot({ path: join(OUT, 'conflict.png'), fullPage: true });
  });

  it('a region that does not answer is shown as unreachable; the page keeps refreshing', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    const page = await newPage();
    await page.goto(`${c.byName('east').gateway.url}/ui?refresh=1`);
    await waitRefreshes(page, 1);
    await c.stopGateway('west');
    expect(await eventually(async () => (await cellState(page, 'east', 'west')) === 'down', 10_000, 100)).toBe(true);
    const n = await refreshes(page);
    await waitRefreshes(page, n + 2);
    // with /v1/cluster west's row says why; without it west is named but not asked
    const westRow = await page.$eval('#regions tr[data-region="west"]', (e) => ({ ok: e.getAttribute('data-ok'), text: e.textContent ?? '' }));
    expect(westRow.ok).toBe('false');
    expect(westRow.text).toMatch(/unreachable|not asked/);
    const west = c.byName('west');
    west.gateway = await startGateway(west.config, { log: silentLogger() }); // the cluster's stop closes it
  });

  it('a restarted gateway that has not heard the owners yet draws them as unknown, then the owners', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, witness: true });
    const c = cluster;
    c.isolate('east');
    await c.restartGateway('east');
    const page = await newPage();
    await page.setViewport({ width: 1200, height: 800 });
    await page.goto(`${c.byName('east').gateway.url}/ui?refresh=1`);
    await waitRefreshes(page, 1);
    const owners = () => page.$$eval('.cell[data-keyspace="orders"]', (els) => els.map((e) => `${e.getAttribute('data-owner')}/${e.getAttribute('data-state')}`));
    expect(await owners()).toEqual(Array.from({ length: 8 }, () => 'unknown/unknown'));
    expect(await page.$$eval('.cell[data-keyspace="orders"]', (els) => els.map((e) => e.textContent))).toEqual(Array.from({ length: 8 }, () => '?'));
    await page.screenshot({ path: join(OUT, 'unknown-after-restart.png'), fullPage: true });
    c.healAll();
    expect(await eventually(async () => (await owners()).every((o) => /^(east|west)\//.test(o)), 15_000, 200)).toBe(true);
  });

  it('with admin.protectReads the assets load without a token; the data needs it, entered in the page', async () => {
    const token = 'ui-admin-token-0123456789abcdef';
    const r = await startRegion('east', ['east'], { admin: { token, protectReads: true } });
    cleanups.push(() => r.stop());
    for (const asset of ['/ui', '/ui/app.js', '/ui/style.css']) expect((await fetch(`${r.gateway.url}${asset}`)).status).toBe(200);
    expect((await fetch(`${r.gateway.url}/v1/status`)).status).toBe(401);
    const page = await newPage();
    await page.goto(`${r.gateway.url}/ui?refresh=1`);
    await page.waitForSelector('#auth:not([hidden])', { timeout: 10_000 });
    expect(await refreshes(page)).toBe(0);
    await page.type('#token', token);
    await page.click('#auth button[type=submit]');
    await waitRefreshes(page, 1);
    expect(await page.$eval('#auth', (e) => e.hasAttribute('hidden'))).toBe(true);
    expect(await page.$$eval('#regions tr[data-region]', (trs) => trs.map((t) => t.getAttribute('data-region')))).toEqual(['east']);
    expect(await page.$$eval('.cell[data-keyspace="orders"]', (els) => els.length)).toBe(8);
    expect(await page.evaluate('sessionStorage.getItem("geogate.adminToken")')).toBe(token);
    // a refresh interval out of bounds is said, not silently changed
    await page.goto(`${r.gateway.url}/ui?refresh=0.01`);
    await waitRefreshes(page, 1);
    expect(await page.$eval('#meta', (e) => e.textContent)).toMatch(/\?refresh=0\.01 is not a number of seconds in \[1, 60\]: 1 s used/);
  });
});
