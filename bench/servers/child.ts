/** The few lines every benchmark server process shares: the ready line and a clean stop. */

/** The parent waits for this exact line on stdout. */
export function announceReady(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

/** Runs `close` once on SIGTERM / SIGINT, then exits (hard after `graceMs`). */
export function onStopSignal(close: () => Promise<void>, graceMs = 3000): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), graceMs).unref();
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent went away (crash, kill): do not linger.
  process.on('disconnect', stop);
}
