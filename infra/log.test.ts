import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { childLogger, chooseLogFormat, configureLogs, createLogger, prettyStream, resetLogSettings } from './log.js';

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

describe('log format', () => {
  it('pretty at a terminal, JSON otherwise; --log-format and GEOGATE_LOG_FORMAT decide first', () => {
    expect(chooseLogFormat({ isTty: true })).toBe('pretty');
    expect(chooseLogFormat({ isTty: false })).toBe('json');
    expect(chooseLogFormat({ isTty: true, flag: 'json' })).toBe('json');
    expect(chooseLogFormat({ isTty: false, flag: 'pretty' })).toBe('pretty');
    expect(chooseLogFormat({ isTty: true, env: 'json' })).toBe('json');
    expect(chooseLogFormat({ isTty: false, env: 'pretty', flag: 'json' })).toBe('json');
    expect(chooseLogFormat({ isTty: false, env: 'fancy' })).toBe('json');
  });

  it('JSON output is one JSON object per line, whatever the message holds', () => {
    const out = capture();
    const log = createLogger({ region: 'east' }, 'info', out.stream);
    log.info({ peer: 'west', detail: 'two\nlines' }, 'link up\nand more');
    log.debug('not at info');
    log.warn({ err: new Error('boom') }, 'failed');
    const text = out.lines.join('');
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(JSON.parse(lines[0]!)).toMatchObject({ region: 'east', peer: 'west', msg: 'link up\nand more', level: 30 });
  });

  it('--log-level (configureLogs) wins over the level a config passes', () => {
    const out = capture();
    configureLogs({ level: 'debug' });
    try {
      createLogger({}, 'warn', out.stream).debug('shown');
    } finally {
      resetLogSettings();
    }
    expect(out.lines).toHaveLength(1);
  });

  it('pretty lines carry the region and component as a prefix, not as JSON', async () => {
    const out = capture();
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { out.lines.push(chunk.toString()); cb(); } });
    const log = pino({ base: { region: 'west' } }, prettyStream({ colorize: false, destination: sink }));
    childLogger(log, { component: 'replicator' }).info({ peer: 'east' }, 'link established');
    const text = out.lines.join('');
    expect(text).toMatch(/INFO.*\[west replicator\] link established/);
    expect(text).toMatch(/"peer":"east"/);
    expect(text.trimEnd().split("\n")).toHaveLength(1);
    expect(() => JSON.parse(text)).toThrow();
  });
});
