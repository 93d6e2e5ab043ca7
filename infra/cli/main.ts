/**
 * `geogate` command line: gateway | witness | wan | up | status.
 */
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { loadGatewayConfig, startGateway } from '../../gateway/index.js';
import { REDIS_MODES, runUp } from '../local/up.js';
import { CERTS_USAGE } from './certs.js';

const USAGE = `usage: geogate <command> [options]

commands:
  gateway --config FILE        run one region's gateway
  witness --config FILE [--init]
                               run the witness service (--init: new cluster, create
                               the missing state file; refused without it)
  wan --listen H:P --target H:P [--control H:P] [--delay-ms N]
                               run the WAN emulator (TCP relay)
  up [--regions N] [--base-port P] [--dir D] [--wan-delay-ms N] [--tls]
     [--redis standalone|sentinel]
                               run a local cluster on loopback (redis-server per region;
                               sentinel: a master, a replica and 3 sentinels per region)
  status --url URL [--ca FILE] [--token T]
                               print a gateway's /v1/status (--token or GEOGATE_ADMIN_TOKEN
                               with admin.protectReads; --ca: the cluster CA for https://)
${CERTS_USAGE}`;

type Command = (args: string[]) => Promise<number | void>;

const commands: Record<string, Command> = {
  async gateway(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
    if (!values.config) throw new UsageError('gateway needs --config FILE');
    const gw = await startGateway(loadGatewayConfig(values.config), { configDir: dirname(resolve(values.config)) });
    const reload = () => { gw.reloadCredentials(); };
    process.on('SIGHUP', reload); // secrets, tokens and certificates read again; links stay
    await untilSignal();
    process.off('SIGHUP', reload);
    await gw.close();
  },
  async witness(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, init: { type: 'boolean', default: false } } });
    if (!values.config) throw new UsageError('witness needs --config FILE');
    const { runWitness } = await import('../../witness/index.js');
    const w = await runWitness(values.config, { init: values.init });
    const reload = () => { w.reload(); };
    process.on('SIGHUP', reload);
    await untilSignal();
    process.off('SIGHUP', reload);
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
        tls: { type: 'boolean', default: false },
        redis: { type: 'string', default: 'standalone' },
      },
    });
    const redisMode = REDIS_MODES.find((m) => m === values.redis);
    if (!redisMode) throw new UsageError(`--redis must be one of ${REDIS_MODES.join(', ')}, got "${values.redis}"`);
    const cluster = await runUp({
      regions: intOption('regions', values.regions, 1, 8),
      basePort: intOption('base-port', values['base-port'], 1024, 65000),
      dir: values.dir,
      wanDelayMs: intOption('wan-delay-ms', values['wan-delay-ms'], 0, 10_000),
      tls: values.tls,
      redisMode,
    });
    await untilSignal();
    await cluster.close();
  },
  async status(args) {
    const { values } = parseArgs({ args, options: { url: { type: 'string', default: 'http://127.0.0.1:7101' }, ca: { type: 'string' }, token: { type: 'string' } } });
    const { getJson } = await import('./http-get.js');
    const token = values.token ?? process.env.GEOGATE_ADMIN_TOKEN;
    const res = await getJson(`${values.url}/v1/status`, { ...(values.ca ? { caFile: values.ca } : {}), ...(token ? { token } : {}) });
    console.log(JSON.stringify(res.body, null, 2));
    return res.status >= 200 && res.status < 300 ? 0 : 1;
  },
  async certs(args) {
    const { certsCommand } = await import('./certs.js');
    return certsCommand(args);
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
    if (e instanceof UsageError || e.name === 'UsageError' || e.name === 'ConfigError' || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`geogate ${name}: ${e.message}\n`);
      return 2;
    }
    if (e.name === 'StateFileMissingError' || e.name === 'CertsError') {
      process.stderr.write(`geogate ${name}: ${e.message}\n`);
      return 1;
    }
    throw err;
  }
}
