import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import PinoPretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Process-wide log settings from the command line (`--log-level`, `--log-format`); they win
 * over a config file's `logLevel` and over GEOGATE_LOG_LEVEL / GEOGATE_LOG_FORMAT.
 */
const settings: { level?: LogLevel; format?: LogFormat } = {};

export function configureLogs(o: { level?: LogLevel | undefined; format?: LogFormat | undefined }): void {
  if (o.level !== undefined) settings.level = o.level;
  if (o.format !== undefined) settings.format = o.format;
}

/** Back to the defaults (tests). */
export function resetLogSettings(): void {
  delete settings.level;
  delete settings.format;
}

/** Pretty lines for a person at a terminal, one JSON object per line for everything else; a flag or the variable decides first. */
export function chooseLogFormat(o: { flag?: LogFormat | undefined; env?: string | undefined; isTty: boolean }): LogFormat {
  if (o.flag) return o.flag;
  const env = LOG_FORMATS.find((f) => f === o.env);
  if (env) return env;
  return o.isTty ? 'pretty' : 'json';
}

/** The root logger of a process. Components take `log.child({ component, ... })`. */
export function createLogger(fields: Record<string, unknown>, level?: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = { level: settings.level ?? level ?? process.env.GEOGATE_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...fields } };
  if (destination) return pino(options, destination);
  const format = chooseLogFormat({ flag: settings.format, env: process.env.GEOGATE_LOG_FORMAT, isTty: process.stdout.isTTY === true });
  return format === 'pretty' ? pino(options, prettyStream({ colorize: true })) : pino(options);
}

/**
 * pino-pretty as a synchronous in-process stream (no worker thread: the same under tsx and the
 * compiled dist): `HH:MM:ss.l LEVEL [region component] message key=value …`.
 */
export function prettyStream(o: { colorize: boolean; destination?: NodeJS.WritableStream | number }): DestinationStream {
  return PinoPretty({
    colorize: o.colorize, sync: true, destination: o.destination ?? 1,
    translateTime: 'SYS:HH:MM:ss.l', singleLine: true, ignore: 'pid,hostname,region,component',
    messageFormat: (log, messageKey) => {
      const tags = [log.region, log.component].filter((x) => typeof x === 'string' && x !== '').join(' ');
      return `${tags ? `[${tags}] ` : ''}${String(log[messageKey] ?? '')}`;
    },
  });
}

/**
 * A child logger that adds only the fields its parent does not already carry with the same
 * value. pino appends child bindings, so `child({ region })` under a logger bound to the same
 * region would print the key twice; components that bind their own context (the replicator,
 * anti-entropy) stay correct whether or not the caller already bound it.
 */
export function childLogger(parent: Logger, fields: Record<string, unknown>): Logger {
  const bound = parent.bindings();
  const fresh: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (bound[k] !== v) fresh[k] = v;
  return Object.keys(fresh).length === 0 ? parent : parent.child(fresh);
}

/** A logger that writes nothing (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
