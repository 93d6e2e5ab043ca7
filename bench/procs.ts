/**
 * Benchmark server processes: `node --import tsx bench/servers/<name>.ts`, each in its own
 * process so it does not share an event loop with the load generator. The parent waits for
 * the child's `READY <port>` line (bounded), and stops it with SIGTERM (then SIGKILL).
 * Optionally with `--cpu-prof` into a directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const SERVER_READY_TIMEOUT_MS = 20_000;
export const SERVER_STOP_GRACE_MS = 5_000;

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

export interface ServerProcess {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface SpawnServerOptions {
  /** File name under bench/servers without `.ts`. */
  script: 'gateway' | 'baseline';
  /** Label for errors and the report. */
  name: string;
  env: Record<string, string>;
  /** Write V8 CPU profiles (one per thread) of the whole process life into this directory. */
  cpuProfDir?: string;
}

export async function spawnServer(opts: SpawnServerOptions): Promise<ServerProcess> {
  const args = ['--import', 'tsx'];
  // One file per thread (tsx's module loader runs in a worker thread); the caller picks the busiest.
  if (opts.cpuProfDir) args.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  args.push(join(BENCH_DIR, 'servers', `${opts.script}.ts`));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const port = await waitReady(child, opts.name, () => stderr);
  return {
    name: opts.name, port, url: `http://127.0.0.1:${port}`, pid: child.pid ?? -1,
    stop: () => stopChild(child),
  };
}

function waitReady(child: ChildProcess, name: string, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not print READY within ${SERVER_READY_TIMEOUT_MS} ms: ${stderr().trim()}`));
    }, SERVER_READY_TIMEOUT_MS);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before READY: ${stderr().trim()}`));
    };
    child.once('exit', onExit);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(Number(m[1]));
      }
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
