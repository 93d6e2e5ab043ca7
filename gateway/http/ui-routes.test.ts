import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UI_CSP, uiRoutes } from './ui-routes.js';
import { GeogateError } from '../errors.js';

describe('uiRoutes', () => {
  it('serves the three files with their types and the strict CSP', async () => {
    const app = uiRoutes();
    for (const [path, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css']] as const) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect(res.headers.get('content-security-policy')).toBe(UI_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect(UI_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect((await app.request('/other.js')).status).toBe(404);
  });

  it('the page has no inline script or style and loads only its own files', async () => {
    const html = await (await uiRoutes().request('/')).text();
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]+<\/script>|style=|<style/);
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(srcs.sort()).toEqual(['/ui/app.js', '/ui/style.css', 'data:,'].sort());
    const js = await (await uiRoutes().request('/app.js')).text();
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });

  it('assets missing (a build that did not copy them): a 500 naming the directory, not a crash at start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geogate-ui-'));
    try {
      writeFileSync(join(dir, 'index.html'), '<!doctype html>');
      const app = uiRoutes(pathToFileURL(`${dir}/`));
      let caught: unknown;
      app.onError((err, c) => { caught = err; return c.text('x', 500); });
      expect((await app.request('/')).status).toBe(500);
      expect(caught).toBeInstanceOf(GeogateError);
      expect((caught as GeogateError).message).toContain(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
