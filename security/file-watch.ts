/**
 * Reload on file change: polls the credential files a process reads (secret and token
 * files, certificates, keys, CA files) and calls back once a change has settled. Polling
 * stat (not fs.watch) sees a file replaced by rename, as editors, `cp` and secret
 * managers (Kubernetes secret volumes swap a symlink) do. A change is acted on only when
 * the next check sees the files unchanged, so a certificate and its key written one after
 * the other are read as a pair; a reload that fails (a half-written file) keeps the old
 * credentials, and the next change tries again.
 */
import { statSync } from 'node:fs';

/** The files watched at most (a config names at most a few: secrets, token, cert, key, CAs). */
export const WATCHED_FILES_MAX = 32;

function fingerprint(paths: readonly string[]): string {
  return paths.map((p) => {
    try {
      const s = statSync(p);
      return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch {
      return 'missing';
    }
  }).join('|');
}

/** Starts polling `paths` every `intervalMs`; `onChange` runs after a settled change. Returns stop(). */
export function watchFiles(paths: readonly string[], intervalMs: number, onChange: () => void): () => void {
  if (paths.length === 0 || intervalMs <= 0) return () => {};
  if (paths.length > WATCHED_FILES_MAX) throw new RangeError(`at most ${WATCHED_FILES_MAX} credential files are watched, got ${paths.length}`);
  let seen = fingerprint(paths);
  let pending = false;
  const timer = setInterval(() => {
    const now = fingerprint(paths);
    if (now !== seen) {
      seen = now;
      pending = true; // changed: wait for one check without a change
      return;
    }
    if (pending) {
      pending = false;
      try {
        onChange();
      } catch {
        // the caller logs and counts its own failures; a throw must not escape a timer
      }
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
