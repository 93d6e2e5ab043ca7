import { describe, expect, it } from 'vitest';
import { wanControlApp } from './control.js';
import type { WanState } from './relay.js';
import { WanRelay } from './relay.js';
import { parseHostPort } from './run.js';
import { parseWanArgs, WanUsageError } from './cli.js';

function app() {
  const relay = new WanRelay({ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: 1 } });
  return { relay, app: wanControlApp(relay, { bodyBytesMax: 256 }) };
}
const post = (body: unknown) => ({ method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('WAN control API', () => {
  it('GET returns settings and stats', async () => {
    const res = await app().app.request('/v1/wan');
    expect(res.status).toBe(200);
    const state = (await res.json()) as WanState;
    expect(state.settings.ab).toMatchObject({ delayMs: 0, cut: 'none' });
    expect(state.stats.connections.active).toBe(0);
  });

  it('sets one direction, cuts, heals', async () => {
    const t = app();
    let res = await t.app.request('/v1/wan', post({ action: 'set', direction: 'ab', settings: { delayMs: 40, jitterMs: 5 } }));
    expect(res.status).toBe(200);
    expect(t.relay.settings().ab.delayMs).toBe(40);
    expect(t.relay.settings().ba.delayMs).toBe(0);
    res = await t.app.request('/v1/wan', post({ action: 'cut', direction: 'ba', mode: 'blackhole' }));
    expect(((await res.json()) as WanState).settings.ba.cut).toBe('blackhole');
    res = await t.app.request('/v1/wan', post({ action: 'heal' }));
    expect(((await res.json()) as WanState).settings).toMatchObject({ ab: { cut: 'none', delayMs: 40 }, ba: { cut: 'none' } });
  });

  it('rejects a bad body with the field named, never changing settings', async () => {
    const t = app();
    for (const [body, field] of [
      [{ action: 'set', settings: { delayMs: -1 } }, 'settings.delayMs'],
      [{ action: 'set', settings: { colour: 'red' } }, 'settings'],
      [{ action: 'cut', mode: 'sideways' }, 'mode'],
      [{ action: 'explode' }, 'action'],
      ['{not json', 'body'],
    ] as const) {
      const res = await t.app.request('/v1/wan', post(body));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { field: string }).field).toBe(field);
    }
    expect(t.relay.settings().ab.delayMs).toBe(0);
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await app().app.request('/v1/wan', post({ action: 'heal', pad: 'x'.repeat(1000) }));
    expect(res.status).toBe(413);
  });
});

describe('argument parsing', () => {
  it('parses host:port forms', () => {
    expect(parseHostPort('127.0.0.1:7000')).toEqual({ host: '127.0.0.1', port: 7000 });
    expect(parseHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseHostPort(':9')).toEqual({ host: '0.0.0.0', port: 9 });
    expect(() => parseHostPort('redis', 'target')).toThrow(/target: expected host:port/);
    expect(() => parseHostPort('h:70000')).toThrow();
  });
  it('parses the wan command line and names a bad option', () => {
    const o = parseWanArgs(['--listen', ':7000', '--target', 'west:7102', '--control', ':7080', '--delay-ms', '30']);
    expect(o).toMatchObject({ listen: ':7000', target: 'west:7102', control: ':7080', initial: { ab: { delayMs: 30 } } });
    expect(() => parseWanArgs(['--listen', ':1'])).toThrow(WanUsageError);
    expect(() => parseWanArgs(['--listen', ':1', '--target', 'x:2', '--delay-ms', 'soon'])).toThrow(/--delay-ms/);
  });
});
