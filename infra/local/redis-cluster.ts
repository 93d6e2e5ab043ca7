/**
 * A Redis Cluster on loopback, for the integration tests (and `geogate up --redis cluster`
 * later): `masters` redis-server processes with `--cluster-enabled yes` (plus `replicasPerMaster`
 * replicas each), each on its own port and in its own dir, joined by `redis-cli --cluster
 * create ... --cluster-yes`; `start` waits until every node reports `cluster_state:ok`.
 * `stop()` stops every process it started.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisProcess } from './redis-process.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** How long `start` waits for `redis-cli --cluster create` and for every node to be ok. */
export const CLUSTER_READY_WAIT_MS = 20_000;

export interface RedisClusterOptions {
  dir: string;
  /** Masters (at least 3: redis-cli refuses fewer). */
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout` (ms): how long a silent master takes to be failed over. */
  nodeTimeoutMs?: number;
}

export class RedisClusterProcesses {
  private constructor(readonly nodes: readonly RedisProcess[]) {}

  static async start(opts: RedisClusterOptions): Promise<RedisClusterProcesses> {
    const masters = opts.masters ?? 3;
    if (masters < 3) throw new RangeError(`a Redis Cluster needs at least 3 masters, not ${masters}`);
    const count = masters * (1 + (opts.replicasPerMaster ?? 0));
    const nodes: RedisProcess[] = [];
    const cluster = new RedisClusterProcesses(nodes);
    try {
      for (let i = 0; i < count; i++) {
        nodes.push(await RedisProcess.start({
          dir: join(opts.dir, `node-${i}`), port: await freePort(), appendOnly: false,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000), '--cluster-require-full-coverage', 'no'],
        }));
      }
      const cli = process.env.GEOGATE_REDIS_CLI ?? 'redis-cli';
      await run(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas', String(opts.replicasPerMaster ?? 0), '--cluster-yes'], { timeout: CLUSTER_READY_WAIT_MS });
      await cluster.waitOk(CLUSTER_READY_WAIT_MS);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** host:port of every node: the seed list of a client. */
  get addresses(): string[] {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`);
  }

  /** Until every node answers `cluster_state:ok` and knows every other node. */
  async waitOk(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.allOk()) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster on ${this.addresses.join(', ')} is not ok after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async allOk(): Promise<boolean> {
    for (const n of this.nodes) {
      const c = new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        const info = String(await c.call('CLUSTER', 'INFO'));
        const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1] ?? 0);
        if (!info.includes('cluster_state:ok') || known !== this.nodes.length) return false;
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    }
    return true;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
