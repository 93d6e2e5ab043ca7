/**
 * `geogate` command line: gateway | witness | wan | up (processes) and status | conflicts |
 * decisions | restore | config check (operators; docs/operations.md). Exit codes: 0 ok,
 * 1 a region or the cluster has a problem or did not answer, 2 a usage error.
 */
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { loadGatewayConfig, startGateway } from '../../gateway/index.js';
import { GATEWAYS_PER_REGION_MAX, REDIS_MODES, runUp } from '../local/up.js';
import { configureLogs, LOG_FORMATS, LOG_LEVELS } from '../log.js';
import { CERTS_USAGE } from './certs.js';
import { EXIT_PROBLEM, EXIT_USAGE, ProblemError, UsageError } from './connection.js';
import type { Out } from './conflicts.js';

const USAGE = `usage: geogate <command> [options]

processes (and --log-level fatal|error|warn|info|debug|trace|silent, --log-format json|pretty;
pretty by default on a terminal, JSON otherwise):
  gateway --config FILE        run one region's gateway
  witness --config FILE [--init]
                               run the witness service (--init: new cluster, create
                               the missing state file; refused without it)
  wan --listen H:P --target H:P [--control H:P] [--delay-ms N]
                               run the WAN emulator (TCP relay)
  up [--regions N] [--base-port P] [--dir D] [--wan-delay-ms N] [--tls]
     [--redis standalone|sentinel] [--gateways-per-region N]
                               run a local cluster on loopback (redis-server per region;
                               sentinel: a master, a replica and 3 sentinels per region;
                               N gateway instances per region, one elected coordinator)

operators (each takes --url URL (default http://127.0.0.1:7101), --ca FILE (the cluster CA
for https://), --token T or GEOGATE_ADMIN_TOKEN, --json for the raw JSON):
  status [--partitions] [--timeout-ms N] [--local]
                               every region, its links and leases, from one gateway
                               (--local: only that gateway, --json: its /v1/status)
  conflicts [--keyspace KS] [--type T] [--since TIME] [--limit N]
            [--follow [--interval-ms N]] [--ack]
                               the cluster-wide conflict journal, one line per conflict;
                               --follow polls every region until Ctrl-C, --ack acknowledges
  decisions [--limit N]        why ownership moved, cluster-wide
  restore --keyspace KS --partition P --source REGION [--yes]
                               merge one partition from a source region (admin token)
  config check FILE [--kind gateway|witness] [--json]
                               validate a config file without starting anything

exit codes: 0 ok, 1 a region or the cluster has a problem or did not answer (named on
stderr), 2 a usage error
${CERTS_USAGE}`;

type Command = (args: string[]) => Promise<number | void>;

const stdio: Out = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };

/** `--log-level` / `--log-format` of the process commands, taken out before their own options are parsed. */
function takeLogOptions(args: string[]): string[] {
  const { values, tokens } = parseArgs({ args, strict: false, tokens: true, options: { 'log-level': { type: 'string' }, 'log-format': { type: 'string' } } });
  const level = values['log-level'];
  const format = values['log-format'];
  const l = LOG_LEVELS.find((x) => x === level);
  const f = LOG_FORMATS.find((x) => x === format);
  if (level !== undefined && !l) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${String(level)}"`);
  if (format !== undefined && !f) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got "${String(format)}"`);
  configureLogs({ level: l, format: f });
  const drop = new Set<number>();
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && (t.name === 'log-level' || t.name === 'log-format')) {
      drop.add(t.index);
      if (!t.inlineValue && t.value !== undefined) drop.add(t.index + 1);
    }
  }
  return args.filter((_, i) => !drop.has(i));
}

const commands: Record<string, Command> = {
  async gateway(argv) {
    const args = takeLogOptions(argv);
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
    if (!values.config) throw new UsageError('gateway needs --config FILE');
    const gw = await startGateway(loadGatewayConfig(values.config), { configDir: dirname(resolve(values.config)) });
    const reload = () => { gw.reloadCredentials(); };
    process.on('SIGHUP', reload); // secrets, tokens and certificates read again; links stay
    await untilSignal();
    process.off('SIGHUP', reload);
    await gw.close();
  },
  async witness(argv) {
    const args = takeLogOptions(argv);
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
  async up(argv) {
    const args = takeLogOptions(argv);
    const { values } = parseArgs({
      args,
      options: {
        regions: { type: 'string', default: '2' },
        'base-port': { type: 'string', default: '7100' },
        dir: { type: 'string' },
        'wan-delay-ms': { type: 'string', default: '0' },
        tls: { type: 'boolean', default: false },
        redis: { type: 'string', default: 'standalone' },
        'gateways-per-region': { type: 'string', default: '1' },
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
      gatewaysPerRegion: intOption('gateways-per-region', values['gateways-per-region'], 1, GATEWAYS_PER_REGION_MAX),
    });
    await untilSignal();
    await cluster.close();
  },
  async status(args) {
    const { statusCommand } = await import('./ops.js');
    return statusCommand(args, stdio);
  },
  async conflicts(args) {
    const { conflictsCommand } = await import('./conflicts.js');
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await conflictsCommand(args, stdio, stop.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
  async decisions(args) {
    const { decisionsCommand } = await import('./ops.js');
    return decisionsCommand(args, stdio);
  },
  async restore(args) {
    const { restoreCommand } = await import('./ops.js');
    return restoreCommand(args, stdio);
  },
  async config(args) {
    const { configCommand } = await import('./ops.js');
    return configCommand(args, stdio);
  },
  async certs(args) {
    const { certsCommand } = await import('./certs.js');
    return certsCommand(args);
  },
};

export { UsageError };

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
      return EXIT_USAGE;
    }
    if (e instanceof ProblemError || e.name === 'UnreachableError' || e.name === 'StateFileMissingError' || e.name === 'CertsError') {
      process.stderr.write(`geogate ${name}: ${e.message}\n`);
      return EXIT_PROBLEM;
    }
    throw err;
  }
}
