import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TriggerLoadError } from './errors.js';
import { type MergeContext, resolve } from './resolve.js';
import { text, tombstone, version } from './testing.js';
import { TRIGGERS_MAX, type TriggerFn, loadTriggers } from './triggers.js';

const dir = mkdtempSync(join(tmpdir(), 'geogate-triggers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, source: string) => writeFileSync(join(dir, name), source);
const loadError = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a TriggerLoadError'); }, (err: unknown) => err as TriggerLoadError);

const ctx: MergeContext = { keyspace: 'orders', key: 'o-1', partition: 4, region: 'east', activeRegion: 'east' };
const cur = version({ east: 2, west: 1 }, { hlc: [10, 0], value: '"cur"' });
const inc = version({ east: 1, west: 2 }, { origin: 'west', hlc: [20, 0], value: '"inc"' });
const withTrigger = (fn: TriggerFn, current = cur, incoming = inc) =>
  resolve({ current, incoming, resolver: 'trigger:t', ctx, triggers: new Map([['t', fn]]) });

describe('loadTriggers', () => {
  it('loads a default export or a named resolve (preferred), relative to baseDir', async () => {
    write('default.mjs', 'export default () => ({ value: "d" });');
    write('named.mjs', 'export const resolve = () => ({ value: "n" }); export default 42;');
    const registry = await loadTriggers([{ name: 'd', module: 'default.mjs' }, { name: 'n', module: `${dir}/named.mjs` }], dir);
    expect([...registry.keys()]).toEqual(['d', 'n']);
    const r = resolve({ current: cur, incoming: inc, resolver: 'trigger:n', ctx, triggers: registry });
    expect(text(r.value)).toBe('n');
  });

  it('names the trigger and the reason for every bad entry', async () => {
    write('nofn.mjs', 'export default 42;');
    write('broken.mjs', 'export default (;');
    write('async.mjs', 'export default async () => ({ value: 1 });');
    write('ok.mjs', 'export default () => ({ value: 1 });');
    const cases = [
      [[{ name: 'gone', module: 'missing.mjs' }], 'gone', 'not-found'],
      [[{ name: 'nofn', module: 'nofn.mjs' }], 'nofn', 'not-a-function'],
      [[{ name: 'broken', module: 'broken.mjs' }], 'broken', 'import-failed'],
      [[{ name: 'slow', module: 'async.mjs' }], 'slow', 'async'],
      [[{ name: 'twice', module: 'ok.mjs' }, { name: 'twice', module: 'ok.mjs' }], 'twice', 'duplicate'],
      [[{ name: 'bad name!', module: 'ok.mjs' }], 'bad name!', 'bad-name'],
    ] as const;
    for (const [specs, trigger, reason] of cases) {
      const err = await loadError(loadTriggers(specs, dir));
      expect(err).toBeInstanceOf(TriggerLoadError);
      expect(err).toMatchObject({ name: 'TriggerLoadError', trigger, reason });
      expect(err.message).toContain(`trigger "${trigger}"`);
    }
  });

  it('accepts TRIGGERS_MAX triggers and refuses one more', async () => {
    const specs = Array.from({ length: TRIGGERS_MAX }, (_, i) => ({ name: `t${i}`, module: 'ok.mjs' }));
    expect((await loadTriggers(specs, dir)).size).toBe(TRIGGERS_MAX);
    const err = await loadError(loadTriggers([...specs, { name: 'extra', module: 'ok.mjs' }], dir));
    expect(err).toMatchObject({ reason: 'too-many', trigger: 'extra' });
  });
});

describe('running a trigger', () => {
  it('stores a JSON value canonically as application/json; strings and bytes as given', () => {
    const r = withTrigger(() => ({ value: { b: 1, a: [true, null] } }));
    expect(r).toMatchObject({ winner: 'merged', resolver: 'trigger:t', contentType: 'application/json', tombstone: false });
    expect(text(r.value)).toBe('{"a":[true,null],"b":1}');
    expect(text(withTrigger(() => ({ value: 'plain', contentType: 'text/plain' })).value)).toBe('plain');
    expect(withTrigger(() => ({ value: new Uint8Array([1, 2]) })).value).toEqual(new Uint8Array([1, 2]));
  });

  it('passes base, both sides (with parsed JSON), the type and the context', () => {
    let seen: Parameters<TriggerFn>[0] | undefined;
    resolve({ current: cur, incoming: inc, base: version({ east: 1, west: 1 }, { value: '"b"' }), resolver: 'trigger:t', ctx, triggers: new Map([['t', (input) => ((seen = input), { value: 1 })]]) });
    expect(seen).toMatchObject({ type: 'state-conflict', ctx: { keyspace: 'orders', key: 'o-1', partition: 4, region: 'east' } });
    expect(seen?.base?.json).toBe('b');
    expect([seen?.current.json, seen?.incoming.json].sort()).toEqual(['cur', 'inc']);
  });

  it('labels an answer equal to one side as that side, with the other as loser', () => {
    const r = withTrigger(({ current, incoming }) => ({ value: current.json === 'inc' ? current.value : incoming.value }));
    expect(r).toMatchObject({ winner: 'incoming', loser: cur });
    expect(withTrigger(() => ({ delete: true }), cur, tombstone({ east: 1, west: 2 }))).toMatchObject({ tombstone: true, winner: 'incoming' });
  });

  it('falls back to lww and records the error, never throwing', () => {
    const cases: [TriggerFn, string, RegExp][] = [
      [() => { throw new TypeError('boom'); }, 'threw', /TypeError: boom/],
      [() => Promise.reject(new Error('later')) as never, 'async', /Promise/],
      [() => 42 as never, 'bad-result', /returned number/],
      [() => ({}) as never, 'bad-result', /value is missing/],
      [() => ({ value: () => 1 }), 'bad-result', /neither bytes, a string nor JSON/],
      [() => ({ value: 1n }), 'bad-result', /neither bytes/],
      [() => ({ value: 'x'.repeat(1024 * 1024 + 1) }), 'bad-result', /at most 1048576/],
      [() => ({ value: 1, contentType: '' }), 'bad-result', /contentType/],
      [() => ({ value: 1, actions: [{ kind: 'webhook', url: 'ftp://x', body: {} }] }), 'bad-result', /actions\[0\]: url must be http or https/],
      [({ current }) => ({ value: current.value }), 'asymmetric', /swapped/],
    ];
    for (const [fn, code, message] of cases) {
      const r = withTrigger(fn);
      expect(r, code).toMatchObject({ resolver: 'lww', configured: 'trigger:t', winner: 'incoming', error: { code }, actions: [] });
      expect(r.error?.message).toMatch(message);
      expect(r.note).toMatch(new RegExp(`^trigger:t failed \\(${code}\\)`));
    }
    const missing = resolve({ current: cur, incoming: inc, resolver: 'trigger:nope', ctx });
    expect(missing).toMatchObject({ resolver: 'lww', error: { code: 'missing' } });
  });

  it('gives the same fresh input to both calls, so a mutating trigger cannot skew the second', () => {
    const r = withTrigger((input) => {
      const keep = [input.current, input.incoming].sort((x, y) => x.origin.localeCompare(y.origin))[0]!;
      (input.current.vv as Record<string, number>).east = 99;
      input.current.value.fill(0);
      return { value: { kept: keep.json } };
    });
    expect(r).toMatchObject({ winner: 'merged', resolver: 'trigger:t' });
    expect(text(r.value)).toBe('{"kept":"cur"}');
    expect(cur.vv).toEqual({ east: 2, west: 1 });
    expect(text(cur.value)).toBe('"cur"');
  });
});

describe('docs/examples/refund-trigger.mjs', () => {
  const examples = join(import.meta.dirname, '..', 'docs', 'examples');
  const order = (fields: object) => JSON.stringify({ orderId: 'o-1', amountCents: 1200, ...fields });
  const run = async (current: ReturnType<typeof version>, incoming: ReturnType<typeof version>) => {
    const triggers = await loadTriggers([{ name: 'refund', module: 'refund-trigger.mjs' }], examples);
    return resolve({ current, incoming, resolver: 'trigger:refund', ctx, triggers });
  };

  it('keeps one payment of a double charge and requests one refund with a stable id', async () => {
    const a = version({ east: 1 }, { value: order({ status: 'paid', paymentId: 'pay_b' }) });
    const b = version({ west: 1 }, { origin: 'west', value: order({ status: 'paid', paymentId: 'pay_a' }) });
    const r = await run(a, b);
    expect(r).toMatchObject({ type: 'key-conflict', resolver: 'trigger:refund' });
    expect(JSON.parse(text(r.value))).toMatchObject({ paymentId: 'pay_a' });
    expect(r.actions).toHaveLength(1);
    expect(r.actions[0]).toMatchObject({ kind: 'webhook', url: 'https://payments.example.com/v1/refunds', body: { paymentId: 'pay_b', amountCents: 1200 } });
    expect(r.actions[0]?.id).toMatch(/^[0-9a-f]{32}$/);
    expect((await run(b, a)).actions).toEqual(r.actions);
  });

  it('keeps a paid order over a concurrent delete, honours a delete of an unpaid one', async () => {
    const paid = version({ east: 2 }, { value: order({ status: 'paid', paymentId: 'pay_x' }) });
    const created = version({ east: 2 }, { value: order({ status: 'created' }) });
    const del = tombstone({ east: 1, west: 1 }, { origin: 'west', hlc: [9999, 0] });
    expect(await run(paid, del)).toMatchObject({ tombstone: false, winner: 'current', type: 'delete-vs-update' });
    expect(await run(created, del)).toMatchObject({ tombstone: true, winner: 'incoming' });
  });

  it('a value that is not an order falls back to lww with the reason', async () => {
    const r = await run(version({ east: 1 }, { value: '"?"' }), version({ west: 1 }, { origin: 'west', value: order({ status: 'paid' }) }));
    expect(r).toMatchObject({ resolver: 'lww', error: { code: 'threw' } });
    expect(r.error?.message).toMatch(/not an order/);
  });
});
