import { describe, expect, it } from 'vitest';
import { addMembers, mergePatch, parseIncr, removeMembers } from './operations.js';

const bytes = (s: string) => Buffer.from(s);

describe('operations (pure)', () => {
  it('mergePatch follows the RFC 7386 appendix examples', () => {
    expect(mergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(mergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    expect(mergePatch({ a: 'foo' }, 'bar')).toBe('bar');
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(mergePatch(undefined, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });

  it('set add/remove compare members by canonical JSON and write them sorted', () => {
    const v = addMembers(bytes('[{"b":2,"a":1}]'), [{ a: 1, b: 2 }, 'x'], 'tags');
    expect(Buffer.from(v).toString()).toBe('["x",{"a":1,"b":2}]');
    expect(Buffer.from(removeMembers(v, [{ b: 2, a: 1 }], 'tags')).toString()).toBe('["x"]');
    expect(() => addMembers(bytes('{"a":1}'), [1], 'tags')).toThrow(/not a JSON array/);
  });

  it('incr takes a safe integer only', () => {
    expect(parseIncr(bytes('{"by":-3}'))).toBe('-3');
    expect(() => parseIncr(bytes('{"by":9007199254740992}'))).toThrow();
    expect(() => parseIncr(bytes('[1]'))).toThrow();
  });
});
