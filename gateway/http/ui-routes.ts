/**
 * The status page (`/ui`, docs/status-page.md): three static files shipped in the package
 * (`gateway/ui/`, copied into `dist/gateway/ui/` by the build), read once and served from
 * memory with a strict Content-Security-Policy. The page draws itself from the JSON API
 * (`/v1/cluster`, else `/v1/status`); the files need no token, the data may (admin.protectReads).
 */
import { readFileSync } from 'node:fs';
import { Hono, type Context } from 'hono';
import { GeogateError } from '../errors.js';

/** Only script and style from this origin, data only from this origin, nothing else. */
export const UI_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

interface Asset { readonly body: string; readonly type: string }

function loadAssets(dir: URL): Map<string, Asset> | Error {
  const out = new Map<string, Asset>();
  try {
    for (const [name, type] of Object.entries(ASSETS)) out.set(name, { body: readFileSync(new URL(name, dir), 'utf8'), type });
  } catch (err) {
    return new Error(`status page assets missing in ${dir.pathname} (the build copies gateway/ui/ there): ${(err as Error).message}`);
  }
  return out;
}

export function uiRoutes(dir: URL = new URL('../ui/', import.meta.url)): Hono {
  const assets = loadAssets(dir);
  const app = new Hono();
  const serve = (c: Context, name: string) => {
    if (assets instanceof Error) throw new GeogateError(assets.message, 500, 'ui_assets_missing');
    const a = assets.get(name)!;
    return c.body(a.body, 200, {
      'content-type': a.type, 'content-security-policy': UI_CSP, 'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'cache-control': 'no-cache',
    });
  };
  app.get('/', (c) => serve(c, 'index.html'));
  for (const name of Object.keys(ASSETS)) app.get(`/${name}`, (c) => serve(c, name));
  return app;
}
