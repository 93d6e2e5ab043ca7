/**
 * Durable needs-repair marks. A peer is marked when our log was trimmed past its cursor (or
 * our store came back with older data); shipping then goes on from what exists, so the
 * peer's applied cursor jumps past the hole at once. The mark is what still says the hole
 * must be repaired, so it has to outlive a restart of this process: the replicator keeps
 * it in the store (`RepairMarkStore`) and removes it only when anti-entropy reports the
 * repair that began after the mark was set as finished.
 */

/** Where the marks survive restarts (the region's Redis: gateway/store/repair-marks.ts). */
export interface RepairMarkStore {
  /** Every mark held: peer → mark id. */
  load(): Promise<Map<string, string>>;
  /** Sets (or replaces) the peer's mark. */
  set(peer: string, mark: string): Promise<void>;
  /** Removes the peer's mark only when it is still `mark` (a newer one stays). */
  clear(peer: string, mark: string): Promise<void>;
}

/** A mark id: random per process (the injected `random`) and numbered within it. */
export function newMarkId(random: () => number, n: number): string {
  return `${Math.floor(random() * 2 ** 48).toString(36)}-${n.toString(36)}`;
}
