/** The docker CLI, with a bound on every call and errors that carry the command and its stderr. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DEFAULT_DOCKER_TIMEOUT_MS = 30_000;

export class DockerError extends Error {
  override readonly name = 'DockerError';
}

export async function docker(args: string[], timeoutMs = DEFAULT_DOCKER_TIMEOUT_MS): Promise<string> {
  return command('docker', args, timeoutMs);
}

export async function command(file: string, args: string[], timeoutMs = DEFAULT_DOCKER_TIMEOUT_MS): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new DockerError(`${file} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** For exit handlers, where nothing asynchronous runs any more. */
export function dockerSync(args: string[]): void {
  try {
    execFileSync('docker', args, { timeout: DEFAULT_DOCKER_TIMEOUT_MS, stdio: 'ignore' });
  } catch {
    // best effort at exit
  }
}

export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}
