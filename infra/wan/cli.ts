/**
 * `geogate wan --listen H:P --target H:P [--control H:P] [--delay-ms N] [--jitter-ms N]
 * [--bandwidth-bytes-per-sec N] [--buffer-bytes-max N] [--seed N]`: runs a relay until
 * SIGINT/SIGTERM. The CLI's dispatcher calls `wanCommand(argv)`; `main.ts` runs it directly.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { runWan, type RunWanOptions } from './run.js';
import type { DirectionSettingsPatch } from './settings.js';

export const WAN_USAGE =
  'usage: geogate wan --listen H:P --target H:P [--control H:P] [--delay-ms N] [--jitter-ms N] ' +
  '[--bandwidth-bytes-per-sec N] [--buffer-bytes-max N] [--seed N]';

export class WanUsageError extends Error {
  override readonly name = 'WanUsageError';
}

function intOption(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new WanUsageError(`--${name}: expected a non-negative integer, got ${String(raw)}`);
  return n;
}

export function parseWanArgs(argv: string[]): RunWanOptions {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        listen: { type: 'string' }, target: { type: 'string' }, control: { type: 'string' },
        'delay-ms': { type: 'string' }, 'jitter-ms': { type: 'string' },
        'bandwidth-bytes-per-sec': { type: 'string' }, 'buffer-bytes-max': { type: 'string' }, seed: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new WanUsageError(`${(err as Error).message}\n${WAN_USAGE}`);
  }
  if (typeof values.listen !== 'string' || typeof values.target !== 'string') throw new WanUsageError(`--listen and --target are required\n${WAN_USAGE}`);
  const shape: DirectionSettingsPatch = {};
  const delayMs = intOption(values, 'delay-ms');
  const jitterMs = intOption(values, 'jitter-ms');
  const bandwidthBytesPerSec = intOption(values, 'bandwidth-bytes-per-sec');
  if (delayMs !== undefined) shape.delayMs = delayMs;
  if (jitterMs !== undefined) shape.jitterMs = jitterMs;
  if (bandwidthBytesPerSec !== undefined) shape.bandwidthBytesPerSec = bandwidthBytesPerSec;
  const options: RunWanOptions = { listen: values.listen, target: values.target, initial: { ab: shape, ba: shape } };
  if (typeof values.control === 'string') options.control = values.control;
  const bufferBytesMax = intOption(values, 'buffer-bytes-max');
  const seed = intOption(values, 'seed');
  if (bufferBytesMax !== undefined) options.bufferBytesMax = bufferBytesMax;
  if (seed !== undefined) options.seed = seed;
  return options;
}

/** Runs the relay until a termination signal; resolves to the exit code. */
export async function wanCommand(argv: string[]): Promise<number> {
  let options: RunWanOptions;
  try {
    options = parseWanArgs(argv);
  } catch (err) {
    console.error(`geogate wan: ${(err as Error).message}`);
    return 2;
  }
  const log = createLogger({ component: 'wan' });
  const running = await runWan({ ...options, log });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('wan relay stopping');
  await running.close();
  return 0;
}
