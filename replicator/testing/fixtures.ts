/** Shared fixtures of the replicator tests (not part of the public entry). */
import type { Clock } from '../../infra/clock.js';
import { encodeFrame, type Frame } from '../codec.js';
import type { CloseKind, Transport } from '../link.js';
import type { MemoryLog } from '../memory.js';
import type { ChangeRecord } from '../types.js';
import { unpackChange } from '../packed.js';

export function change(origin: string, key: string, counter: number, valueBytes = 8): Omit<ChangeRecord, 'seq'> {
  return {
    keyspace: 'ks', key, partition: 0, bucket: 0,
    record: { vv: { [origin]: counter }, hlc: [1_700_000_000_000 + counter, 0], origin, epoch: 0, tombstone: false, value: new Uint8Array(valueBytes).fill(counter & 0xff), contentType: 'application/octet-stream' },
  };
}

/** Appends `count` writes of distinct keys `<origin>-<prefix><i>` to `log`. */
export function writeMany(log: MemoryLog, origin: string, count: number, prefix = 'k', valueBytes = 8): ChangeRecord[] {
  return Array.from({ length: count }, (_, i) => log.append(change(origin, `${origin}-${prefix}${i}`, i + 1, valueBytes)));
}

/** A Transport that records frames (encoded for real, so sizes are true). */
export class RecordingTransport implements Transport {
  readonly frames: Frame[] = [];
  closed: { reason: string; kind: CloseKind | undefined } | null = null;
  private last = 0;
  constructor(private readonly clock: Clock) {}
  send(frame: Frame): number {
    if (this.closed) return 0;
    this.frames.push(frame);
    this.last = this.clock.monoMs();
    return encodeFrame(frame).byteLength;
  }
  close(reason: string, kind?: CloseKind): void {
    this.closed ??= { reason, kind };
  }
  lastSentMs(): number {
    return this.last;
  }
  bufferedBytes(): number {
    return 0;
  }
  /** The CHANGES batches sent, unpacked. */
  changes(): readonly ChangeRecord[][] {
    return this.frames.flatMap((f) => (f.t === 'changes' ? [f.records.map((r) => unpackChange(r.bytes))] : []));
  }
}

/** Lets pending promise callbacks run. */
export async function flush(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Polls `check` on real time until it holds or `timeoutMs` passes. */
export async function until(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
