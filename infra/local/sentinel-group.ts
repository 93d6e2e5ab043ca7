/**
 * A Redis Sentinel group on loopback, for `geogate up --redis sentinel` and the integration
 * tests: a master, a replica (`replicaof` the master) and SENTINELS_PER_GROUP sentinels
 * (`redis-server <conf> --sentinel`), each on its own port, in its own dir. `failover()`
 * forces one (`SENTINEL FAILOVER <name>`) and waits until the sentinels name the new master
 * and it answers as one; `stop()` stops every process it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisProcess } from './redis-process.js';
import { freePort } from './ports.js';

export const SENTINELS_PER_GROUP = 3;
export const DEFAULT_SENTINEL_MASTER_NAME = 'geogate';
/** How long `start` waits for every sentinel to see the replica (and each other). */
export const SENTINEL_READY_WAIT_MS = 15_000;
/** How long `failover` waits for the new master. */
export const SENTINEL_FAILOVER_WAIT_MS = 20_000;

export interface SentinelGroupOptions {
  dir: string;
  name?: string;
  /** `sentinel down-after-milliseconds` (how long a silent master takes to be judged down). */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. */
  failoverTimeoutMs?: number;
  /** Also wait until every sentinel knows the other two (needed for a quorum on a real outage, not for `failover()`). */
  waitForPeers?: boolean;
}

class SentinelProcess {
  private child: ChildProcess | undefined;
  constructor(readonly port: number, private readonly confFile: string) {}

  async start(): Promise<void> {
    const bin = process.env.GEOGATE_REDIS_SERVER ?? 'redis-server';
    const child = spawn(bin, [this.confFile, '--sentinel'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start ${bin} --sentinel: ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`sentinel on port ${this.port} exited with ${code}: ${stderr.trim()}`)));
    });
    failed.catch(() => {});
    await Promise.race([untilTrue(() => answers(this.port), SENTINEL_READY_WAIT_MS, `sentinel on port ${this.port} did not answer`), failed]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export class SentinelGroup {
  private constructor(
    readonly name: string,
    /** [0] started as the master, [1] as its replica; `masterPort()` says which one is master now. */
    readonly servers: readonly RedisProcess[],
    private readonly sentinelProcs: readonly SentinelProcess[],
  ) {}

  static async start(opts: SentinelGroupOptions): Promise<SentinelGroup> {
    const name = opts.name ?? DEFAULT_SENTINEL_MASTER_NAME;
    const servers: RedisProcess[] = [];
    const sentinels: SentinelProcess[] = [];
    const group = new SentinelGroup(name, servers, sentinels);
    try {
      servers.push(await RedisProcess.start({ dir: join(opts.dir, 'master') }));
      servers.push(await RedisProcess.start({ dir: join(opts.dir, 'replica'), replicaOfPort: servers[0]!.port }));
      for (let i = 0; i < SENTINELS_PER_GROUP; i++) {
        const port = await freePort();
        const dir = join(opts.dir, `sentinel-${i}`);
        mkdirSync(dir, { recursive: true });
        const conf = join(dir, 'sentinel.conf');
        writeFileSync(conf, [
          `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'logfile ""',
          `sentinel monitor ${name} 127.0.0.1 ${servers[0]!.port} 2`,
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 10_000}`,
          `sentinel parallel-syncs ${name} 1`, '',
        ].join('\n'));
        const s = new SentinelProcess(port, conf);
        sentinels.push(s);
        await s.start();
      }
      await group.waitReady(opts.waitForPeers ?? false);
    } catch (err) {
      await group.stop();
      throw err;
    }
    return group;
  }

  /** The sentinels as the gateway's `redis.sentinels` takes them. */
  get addresses(): string[] {
    return this.sentinelProcs.map((s) => `127.0.0.1:${s.port}`);
  }

  /** The port the sentinels name as the master now. */
  async masterPort(): Promise<number> {
    const reply = (await this.askSentinel(0, ['get-master-addr-by-name', this.name])) as [string, string] | null;
    if (!reply) throw new Error(`sentinels do not know master ${this.name}`);
    return Number(reply[1]);
  }

  /** The server the sentinels name as the master now, and the other one. */
  async roles(): Promise<{ master: RedisProcess; replica: RedisProcess }> {
    const port = await this.masterPort();
    const master = this.servers.find((s) => s.port === port);
    const replica = this.servers.find((s) => s.port !== port);
    if (!master || !replica) throw new Error(`master port ${port} is none of the group's servers`);
    return { master, replica };
  }

  /**
   * Forces a failover (`SENTINEL FAILOVER`, no agreement asked) and waits until the sentinels
   * name the other server and it answers `role` as master. Returns the new master's port.
   */
  async failover(): Promise<number> {
    const before = await this.masterPort();
    await this.askSentinel(0, ['failover', this.name]);
    let after = before;
    await untilTrue(async () => {
      after = await this.masterPort();
      return after !== before && (await roleOf(after)) === 'master';
    }, SENTINEL_FAILOVER_WAIT_MS, `failover of ${this.name} did not finish`);
    return after;
  }

  /** Until the old master (or any server) replicates from the current master with its link up. */
  async waitReplicaLinked(timeoutMs = SENTINEL_FAILOVER_WAIT_MS): Promise<void> {
    await untilTrue(async () => {
      const { replica } = await this.roles();
      return /master_link_status:up/.test(await info(replica.port, 'replication'));
    }, timeoutMs, `no replica of ${this.name} linked`);
  }

  async stop(): Promise<void> {
    for (const s of this.sentinelProcs) await s.stop().catch(() => {});
    for (const s of this.servers) await s.stop().catch(() => {});
  }

  private async waitReady(withPeers: boolean): Promise<void> {
    await untilTrue(async () => {
      if (!/master_link_status:up/.test(await info(this.servers[1]!.port, 'replication'))) return false;
      for (let i = 0; i < this.sentinelProcs.length; i++) {
        const m = flat((await this.askSentinel(i, ['master', this.name])) as string[]);
        if (Number(m['num-slaves']) < 1) return false;
        if (withPeers && Number(m['num-other-sentinels']) < SENTINELS_PER_GROUP - 1) return false;
      }
      return true;
    }, SENTINEL_READY_WAIT_MS, `sentinel group ${this.name} not ready`);
  }

  private async askSentinel(i: number, args: string[]): Promise<unknown> {
    return withClient(this.sentinelProcs[i]!.port, (c) => c.call('SENTINEL', ...args));
  }
}

function flat(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[pairs[i]!] = pairs[i + 1]!;
  return out;
}

async function withClient<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

async function roleOf(port: number): Promise<string> {
  return withClient(port, async (c) => ((await c.call('ROLE')) as unknown[])[0] as string).catch(() => 'unreachable');
}

async function info(port: number, section: string): Promise<string> {
  return withClient(port, (c) => c.info(section)).catch(() => '');
}

async function answers(port: number): Promise<boolean> {
  return withClient(port, async (c) => (await c.ping()) === 'PONG').catch(() => false);
}

async function untilTrue(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
