import { describe, expect, it } from 'vitest';
import { SESSION_REGIONS_MAX, SESSION_TOKEN_BYTES_MAX, formatSessionToken, mergeSessionTokens, parseSessionToken } from '../../client/session.js';

describe('session tokens (client/session.ts)', () => {
  it('parses and formats region:incarnation:seq entries, regions ascending', () => {
    const t = 'east:9f3a1c2b4d5e6f70:42,west:0c1d:0';
    expect(parseSessionToken(t)).toEqual([{ region: 'east', incarnation: '9f3a1c2b4d5e6f70', seq: 42 }, { region: 'west', incarnation: '0c1d', seq: 0 }]);
    expect(formatSessionToken([{ region: 'west', incarnation: '0c1d', seq: 0 }, { region: 'east', incarnation: '9f3a1c2b4d5e6f70', seq: 42 }])).toBe(t);
  });

  it.each([
    ['', /empty/],
    ['east', /entry 1 is not region:incarnation:seq/],
    ['east:XY:1', /entry 1/],
    ['east:ab:01', /entry 1/],
    ['east:ab:-1', /entry 1/],
    ['east:ab:1,', /entry 2/],
    ['west:ab:1,east:ab:2', /entry 2: regions must be strictly ascending/],
    ['east:ab:1,east:ab:2', /strictly ascending/],
    ['east:ab:9999999999999999', /not a safe integer/],
    [`east:${'a'.repeat(33)}:1`, /entry 1/],
    ['x'.repeat(SESSION_TOKEN_BYTES_MAX + 1), /more than 2048/],
    [Array.from({ length: SESSION_REGIONS_MAX + 1 }, (_, i) => `r${String(i).padStart(2, '0')}:a:1`).join(','), /17 entries, more than 16/],
  ])('refuses %j naming the problem', (text, problem) => {
    expect(parseSessionToken(text)).toMatch(problem);
  });

  it('16 regions at their longest fit the byte bound', () => {
    const entries = Array.from({ length: SESSION_REGIONS_MAX }, (_, i) => ({ region: `r${String(i).padStart(2, '0')}${'x'.repeat(29)}`, incarnation: 'f'.repeat(32), seq: 2 ** 53 - 1 }));
    const text = formatSessionToken(entries);
    expect(text.length).toBeLessThanOrEqual(SESSION_TOKEN_BYTES_MAX);
    expect(parseSessionToken(text)).toEqual(entries);
  });

  it('merges per region: the higher seq of one incarnation; another incarnation only from that region\'s own answer', () => {
    const seen = [{ region: 'east', incarnation: 'a', seq: 9 }, { region: 'mid', incarnation: 'm', seq: 3 }, { region: 'west', incarnation: 'b', seq: 5 }];
    const next = [{ region: 'east', incarnation: 'a', seq: 7 }, { region: 'west', incarnation: 'c', seq: 1 }];
    expect(mergeSessionTokens(seen, next, 'west')).toEqual([
      { region: 'east', incarnation: 'a', seq: 9 }, { region: 'mid', incarnation: 'm', seq: 3 }, { region: 'west', incarnation: 'c', seq: 1 },
    ]);
    // answered by east: west's other incarnation is what east applied last, not west's current one
    expect(mergeSessionTokens(seen, next, 'east').find((e) => e.region === 'west')).toEqual({ region: 'west', incarnation: 'b', seq: 5 });
    expect(mergeSessionTokens([], next)).toEqual(next);
  });
});
