/**
 * A relay with its control API as one running unit: what `geogate wan --listen H:P
 * --target H:P --control H:P` starts.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { wanControlApp } from './control.js';
import { WanRelay, type HostPort, type WanRelayOptions } from './relay.js';

export class HostPortError extends Error {
  override readonly name = 'HostPortError';
}

/** Parses `host:port` (`[::1]:7000` for IPv6); a bare `:7000` or `7000` listens on 0.0.0.0. */
export function parseHostPort(text: string, field = 'address'): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw new HostPortError(`${field}: expected host:port, got ${JSON.stringify(text)}`);
  }
  return { host: match[1] || match[2] || '0.0.0.0', port };
}

function toHostPort(value: HostPort | string, field: string): HostPort {
  return typeof value === 'string' ? parseHostPort(value, field) : value;
}

export interface RunWanOptions extends Omit<WanRelayOptions, 'listen' | 'target'> {
  listen: HostPort | string;
  target: HostPort | string;
  control?: HostPort | string;
  controlBodyBytesMax?: number;
  log?: Logger;
}

export interface RunningWan {
  relay: WanRelay;
  listen: HostPort;
  control: HostPort | undefined;
  close(): Promise<void>;
}

export async function runWan(options: RunWanOptions): Promise<RunningWan> {
  const { control: controlAt, controlBodyBytesMax, ...rest } = options;
  const relay = new WanRelay({ ...rest, listen: toHostPort(options.listen, 'listen'), target: toHostPort(options.target, 'target') });
  const listen = await relay.start();
  if (controlAt === undefined) return { relay, listen, control: undefined, close: () => relay.close() };
  const at = toHostPort(controlAt, 'control');
  const app = wanControlApp(relay, controlBodyBytesMax === undefined ? {} : { bodyBytesMax: controlBodyBytesMax });
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: at.host, port: at.port }, () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    await relay.close();
    throw err;
  }
  const control = { host: at.host, port: (server.address() as AddressInfo).port };
  options.log?.info({ control }, 'wan control listening');
  return {
    relay,
    listen,
    control,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await relay.close();
    },
  };
}
