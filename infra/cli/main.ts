/**
 * `geogate` command line: gateway | witness | wan | up | status.
 */
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { loadGatewayConfig, startGateway } from '../../gateway/index.js';
import { runUp } from '../local/up.js';

const USAGE = `usage: geogate <command> [options]

commands:
  gateway --config FILE        run one region's gateway
  witness --config FILE [--init]
                               run the witness service (--init: new cluster, create
                               the missing state file; refused without it)
  wan --listen H:P --target H:P [--control H:P] [--delay-ms N]
                               run the WAN emulator (TCP relay)
  up [--regions N] [--base-port P] [--dir D] [--wan-delay-ms N]
                               run a local cluster on loopback (redis-server per region)
  status --url URL             print a gateway's /v1/status
`;

type Command = (args: string[]) => Promise<number | void>;

const commands: Record<string, Command> = {
  async gateway(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
    if (!values.config) throw new UsageError('gateway needs --config FILE');
    const gw = await startGateway(loadGatewayConfig(values.config), { configDir: dirname(resolve(values.config)) });
    await untilSignal();
    await gw.close();
  },
  async witness(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, init: { type: 'boolean', default: false } } });
    if (!values.config) throw new UsageError('witness needs --config FILE');
    const { runWitness } = await import('../../witness/index.js');
    const w = await runWitness(values.config, { init: values.init });
    await untilSignal();
    await w.close();
  },
  async wan(args) {
    const { wanCommand } = await import('../wan/index.js');
    return wanCommand(args);
  },
  async up(args) {
    const { values } = parseArgs({
      args,
      options: {
        regions: { type: 'string', default: '2' },
        'base-port': { type: 'string', default: '7100' },
        dir: { type: 'string' },
        'wan-delay-ms': { type: 'string', default: '0' },
      },
    });
    const cluster = await runUp({
      regions: intOption('regions', values.regions, 1, 8),
      basePort: intOption('base-port', values['base-port'], 1024, 65000),
      dir: values.dir,
      wanDelayMs: intOption('wan-delay-ms', values['wan-delay-ms'], 0, 10_000),
    });
    await untilSignal();
    await cluster.close();
  },
  async status(args) {
    const { values } = parseArgs({ args, options: { url: { type: 'string', default: 'http://127.0.0.1:7101' } } });
    const res = await fetch(`${values.url}/v1/status`);
    console.log(JSON.stringify(await res.json(), null, 2));
    return res.ok ? 0 : 1;
  },
};

export class UsageError extends Error {
  override name = 'UsageError';
}

function intOption(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got "${text}"`);
  return n;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`geogate: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  try {
    const code = await command(rest);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    const e = err as Error;
    if (e instanceof UsageError || e.name === 'ConfigError' || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`geogate ${name}: ${e.message}\n`);
      return 2;
    }
    if (e.name === 'StateFileMissingError') {
      process.stderr.write(`geogate ${name}: ${e.message}\n`);
      return 1;
    }
    throw err;
  }
}
