import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The root JSON logger of a process. Components take `log.child({ component, ... })`. */
export function createLogger(fields: Record<string, unknown>, level = process.env.GEOGATE_LOG_LEVEL ?? 'info'): Logger {
  const options: LoggerOptions = { level, base: { pid: process.pid, ...fields } };
  return pino(options);
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
