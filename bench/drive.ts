/**
 * Write drivers for the replication scenario: open loop at a fixed rate, or closed loop
 * with N workers (the maximum rate). A driver only issues writes and records when each one
 * was acknowledged; what a write is (HTTP PUT to a gateway, a Lua call on a Redis primary)
 * is the caller's `write(i)`. Every loop is bounded by a duration and an in-flight cap.
 */
export const DRIVE_TICK_MS = 2;
export const DRIVE_IN_FLIGHT_MAX = 512;

export interface DriveResult {
  issued: number;
  acked: number;
  failed: number;
  /** Writes not issued at their time because DRIVE_IN_FLIGHT_MAX were outstanding. */
  behind: number;
  elapsedMs: number;
  firstError?: string;
}

export type WriteFn = (i: number) => Promise<void>;
export type AckFn = (i: number, ackAtMs: number) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Issues write i at t0 + i / ratePerS (catching up in bursts after a late timer). */
export async function driveAtRate(write: WriteFn, onAck: AckFn, ratePerS: number, durationMs: number): Promise<DriveResult> {
  const res: DriveResult = { issued: 0, acked: 0, failed: 0, behind: 0, elapsedMs: 0 };
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= durationMs) break;
    const due = Math.floor((elapsed / 1000) * ratePerS);
    while (res.issued + res.behind < due) {
      if (inFlight.size >= DRIVE_IN_FLIGHT_MAX) {
        res.behind += due - res.issued - res.behind;
        break;
      }
      const i = res.issued++;
      const p: Promise<void> = write(i).then(
        () => { res.acked++; onAck(i, performance.now()); },
        (err: Error) => { res.failed++; res.firstError ??= err.message; },
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(DRIVE_TICK_MS);
  }
  await Promise.all(inFlight);
  res.elapsedMs = performance.now() - t0;
  return res;
}

/** `workers` loops, each issuing its next write when the previous one is acknowledged. */
export async function driveMax(write: WriteFn, onAck: AckFn, workers: number, durationMs: number): Promise<DriveResult> {
  const res: DriveResult = { issued: 0, acked: 0, failed: 0, behind: 0, elapsedMs: 0 };
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() - t0 < durationMs) {
      const i = res.issued++;
      try {
        await write(i);
        res.acked++;
        onAck(i, performance.now());
      } catch (err) {
        res.failed++;
        res.firstError ??= (err as Error).message;
        await sleep(10);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  res.elapsedMs = performance.now() - t0;
  return res;
}
