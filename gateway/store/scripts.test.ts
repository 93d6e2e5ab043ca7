/**
 * The typed wrappers of scripts.ts against the scripts' own contracts: the KEYS and the
 * fixed ARGV each wrapper names are exactly the ones its Lua file's contract comment lists
 * and its body reads, so a reordered or added argument on one side only fails here.
 */
import { describe, expect, it } from 'vitest';
import { LuaScript, scripts } from './scripts.js';

const indices = (text: string, name: 'KEYS' | 'ARGV'): number[] =>
  [...text.matchAll(new RegExp(`${name}\\[(\\d+)\\]`, 'g'))].map((m) => Number(m[1]));

describe('store scripts: one typed wrapper each, agreeing with the script', () => {
  for (const [name, s] of Object.entries(scripts) as [string, LuaScript<string, string>][]) {
    it(`${name} (${s.file}.lua)`, () => {
      const source = s.source();
      const contract = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1];
      expect(contract, 'a contract comment first').toBeDefined();
      const body = source.slice(source.indexOf(']]') + 2).replace(/--[^\n]*/g, '');
      // KEYS: the contract lists each one; the body reads none beyond them (a batch script's
      // item keys follow its fixed ones: it reads them at computed indices)
      const contractKeys = Math.max(0, ...indices(contract!, 'KEYS'));
      if (s.itemKeys.length === 0) expect(contractKeys).toBe(s.keys.length);
      else {
        expect(contractKeys === s.keys.length || contractKeys === s.keys.length + 1).toBe(true);
        expect(body).toMatch(/#KEYS|KEYS\[(?!\d+\])/);
        expect(contract).toMatch(new RegExp(`${s.itemKeys.length} KEYS per`));
      }
      expect(Math.max(0, ...indices(body, 'KEYS'))).toBeLessThanOrEqual(s.keys.length);
      // no key name is built inside Lua: every key comes from KEYS (Redis Cluster routes by them)
      expect(body).not.toMatch(/\.\.\s*"(r|mk|mb|pend|pendp|idem|fence):/);
      expect(body).not.toMatch(/\bprefix\b/);
      // ARGV: the contract's fixed ones are the wrapper's; only a script with a rest reads more
      const contractArgs = indices(contract!, 'ARGV');
      expect(Math.max(0, ...contractArgs.filter((i) => i <= s.args.length + (s.rest ? 0 : 1)))).toBe(s.args.length);
      if (s.rest === null) {
        expect(Math.max(0, ...contractArgs)).toBe(s.args.length);
        expect(Math.max(0, ...indices(body, 'ARGV'))).toBe(s.args.length);
        expect(body).not.toMatch(/#ARGV|ARGV\[(?!\d+\])/);
      } else {
        expect(body).toMatch(/#ARGV|ARGV\[(?!\d+\])/); // it reads the rest (computed indices)
        expect(Math.max(0, ...indices(body, 'ARGV'))).toBeLessThanOrEqual(s.args.length + 1);
      }
    });
  }

  it('a wrapper whose key names do not match the file\'s KEYS count is refused when it is made', () => {
    expect(() => new LuaScript('trimLog-3', ['log', 'logBytes'], ['throughSeq'])).toThrow(/2 key names for 3 KEYS/);
    expect(() => new LuaScript('trimLog-3', ['log', 'logBytes', 'log'], [])).toThrow(/used twice/);
  });

  it('a script without a rest takes no extra ARGV', () => {
    const calls: unknown[][] = [];
    const redis = { [scripts.trimLog.command]: (...a: unknown[]) => { calls.push(a); return Promise.resolve(0); } };
    const keys = { log: 'l', logBytes: 'b', incarnation: 'i', coordinator: 'c' };
    const args = { throughSeq: 5, entriesMax: 10, callerIncarnation: 'x', coordinatorToken: '7' };
    expect(() => scripts.trimLog.call(redis as never, keys, args, ['extra'])).toThrow(/takes no ARGV after coordinatorToken/);
    void scripts.trimLog.call(redis as never, keys, args);
    expect(calls).toEqual([['l', 'b', 'i', 'c', 5, 10, 'x', '7']]);
  });
});
