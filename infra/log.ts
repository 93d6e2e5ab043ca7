import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The root JSON logger of a process. Components take `log.child({ component, ... })`. */
export function createLogger(fields: Record<string, unknown>, level = process.env.GEOGATE_LOG_LEVEL ?? 'info'): Logger {
  const options: LoggerOptions = { level, base: { pid: process.pid, ...fields } };
  return pino(options);
}

/** A logger that writes nothing (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
