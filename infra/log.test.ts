import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { childLogger } from './log.js';

function capture(): { lines: string[]; stream: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

const occurrences = (line: string, key: string): number => line.split(`"${key}":`).length - 1;

describe('childLogger', () => {
  it('does not repeat a field the parent already carries with the same value', () => {
    const out = capture();
    const root = pino({ base: { region: 'east' } }, out.stream);
    const log = childLogger(childLogger(root, { component: 'replicator', region: 'east' }), { component: 'replicator' });
    log.info('hello');
    expect(occurrences(out.lines[0]!, 'region')).toBe(1);
    expect(occurrences(out.lines[0]!, 'component')).toBe(1);
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ region: 'east', component: 'replicator', msg: 'hello' });
  });

  it('adds new fields and returns the parent itself when nothing is new', () => {
    const out = capture();
    const root = pino({ base: { region: 'east' } }, out.stream);
    expect(childLogger(root, { region: 'east' })).toBe(root);
    childLogger(root, { peer: 'west' }).info('x');
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ region: 'east', peer: 'west' });
  });
});
