import { describe, expect, it } from 'vitest';
import { ACTIONS_MAX, ACTION_BODY_BYTES_MAX, ACTION_URL_CHARS_MAX, stampActions, validateActions } from './actions.js';
import { actionId, conflictId } from './ids.js';

const hook = (body: unknown = { n: 1 }, url = 'https://h.example/x') => ({ kind: 'webhook', url, body });

describe('validateActions', () => {
  it('accepts none, and up to ACTIONS_MAX webhooks; normalises URLs', () => {
    expect(validateActions(undefined)).toEqual({ ok: true, actions: [] });
    const max = validateActions(Array.from({ length: ACTIONS_MAX }, () => hook()));
    expect(max.ok && max.actions.length).toBe(ACTIONS_MAX);
    expect(validateActions([hook({}, 'HTTP://H.example')])).toEqual({ ok: true, actions: [{ kind: 'webhook', url: 'http://h.example/', body: {} }] });
  });

  it('refuses one action over the bound and says how many', () => {
    expect(validateActions(Array.from({ length: ACTIONS_MAX + 1 }, () => hook()))).toEqual({ ok: false, message: `${ACTIONS_MAX + 1} actions requested, at most ${ACTIONS_MAX} allowed` });
  });

  it('refuses bad kinds, URLs and bodies, naming the index', () => {
    const bad: [unknown, RegExp][] = [
      [{ actions: 1 }, /must be an array/],
      [[{ kind: 'email', url: 'https://x', body: {} }], /actions\[0\]: unknown kind "email"/],
      [[hook(), hook({}, '/relative')], /actions\[1\]: url "\/relative" is not an absolute URL/],
      [[hook({}, 'javascript:alert(1)')], /must be http or https, got javascript:/],
      [[hook({}, `https://x/${'a'.repeat(ACTION_URL_CHARS_MAX)}`)], /longer than 2048/],
      [[{ kind: 'webhook', url: 'https://x' }], /body is missing or not JSON-serialisable/],
      [[hook({ f: () => 1 })], /actions\[0\]: body is missing or not JSON-serialisable/],
      [[hook({ n: 1n })], /not JSON-serialisable/],
      [['webhook'], /actions\[0\]: not an object/],
      [[{ url: 'https://x', body: 1 }], /unknown kind undefined/],
      [[hook('x'.repeat(ACTION_BODY_BYTES_MAX))], /body is 16386 bytes, at most 16384/],
    ];
    for (const [raw, message] of bad) {
      const r = validateActions(Array.isArray(raw) ? raw : (raw as { actions: unknown }).actions);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(message);
    }
    expect(validateActions([hook('x'.repeat(ACTION_BODY_BYTES_MAX - 2))]).ok).toBe(true);
  });
});

describe('ids', () => {
  it('are deterministic, independent of vector order, and distinct per index and per conflict', () => {
    const a = { east: 2, west: 1 };
    const b = { west: 2, east: 1 };
    expect(conflictId('k', 'x', a, b)).toBe(conflictId('k', 'x', b, a));
    expect(actionId('k', 'x', a, b, 0)).toBe(actionId('k', 'x', b, a, 0));
    expect(actionId('k', 'x', a, b, 0)).not.toBe(actionId('k', 'x', a, b, 1));
    expect(conflictId('k', 'x', a, b)).not.toBe(conflictId('k', 'y', a, b));
    const stamped = stampActions([{ kind: 'webhook', url: 'https://h/', body: 1 }], { keyspace: 'k', key: 'x' }, a, b);
    expect(stamped[0]?.id).toBe(actionId('k', 'x', a, b, 0));
  });
});
