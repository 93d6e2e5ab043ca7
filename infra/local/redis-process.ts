/**
 * A `redis-server` child process on loopback, for `geogate up` and the integration tests.
 * Finds the binary on PATH (or GEOGATE_REDIS_SERVER), waits until it answers PING, and can
 * be stopped (SIGTERM, then SIGKILL) or killed hard to simulate a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { freePort } from './ports.js';

export const REDIS_START_TIMEOUT_MS = 10_000;

export interface RedisProcessOptions {
  port?: number;
  dir: string;
  /** Keep an append-only file so a restart keeps the data (default true). */
  appendOnly?: boolean;
  /** `appendfsync` of the append-only file (default everysec). */
  appendFsync?: 'always' | 'everysec' | 'no';
  /** Redis `save` rules for RDB snapshots ('' = none, the default; `SAVE` still writes one). */
  save?: string;
  /** Start as a replica of this loopback port (`--replicaof 127.0.0.1 PORT`). */
  replicaOfPort?: number;
  /** More redis-server arguments (e.g. `--cluster-enabled yes`: infra/local/redis-cluster.ts). */
  extraArgs?: readonly string[];
}

export class RedisProcess {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number, private readonly opts: RedisProcessOptions) {}

  static async start(opts: RedisProcessOptions): Promise<RedisProcess> {
    const rp = new RedisProcess(opts.port ?? (await freePort()), opts);
    await rp.start();
    return rp;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    mkdirSync(this.opts.dir, { recursive: true });
    const bin = process.env.GEOGATE_REDIS_SERVER ?? 'redis-server';
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.opts.dir,
      '--save', this.opts.save ?? '', '--appendonly', this.opts.appendOnly === false ? 'no' : 'yes',
      '--appendfsync', this.opts.appendFsync ?? 'everysec', '--daemonize', 'no', '--logfile', '',
      ...(this.opts.replicaOfPort !== undefined ? ['--replicaof', '127.0.0.1', String(this.opts.replicaOfPort)] : []),
      ...(this.opts.extraArgs ?? [])];
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start ${bin}: ${err.message} (install redis-server)`)));
      child.once('exit', (code) => reject(new Error(`${bin} exited with ${code}: ${stderr.trim()}`)));
    });
    await Promise.race([waitForPing(this.port, REDIS_START_TIMEOUT_MS), failed]);
  }

  /** Graceful stop. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** The data directory (dump.rdb, appendonlydir). */
  get dir(): string {
    return this.opts.dir;
  }

  /** Freezes the process (SIGSTOP): it keeps its sockets but answers nothing until `thaw`. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Resumes a frozen process (SIGCONT). */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** A crash: SIGKILL, no shutdown work. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pingOnce(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
