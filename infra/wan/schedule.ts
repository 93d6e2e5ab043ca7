/**
 * Pure timing of a WAN direction: when a chunk may leave the relay. No clock, no randomness
 * of its own; both are passed in.
 */

/**
 * Release time of a chunk that arrived at `nowMs`: now + delay + jitter, never earlier than
 * the previous chunk's release (bytes of one connection keep their order).
 */
export function releaseAtMs(input: {
  nowMs: number;
  previousReleaseMs: number;
  delayMs: number;
  jitterMs: number;
  random: () => number;
}): number {
  const jitter = input.jitterMs > 0 ? input.random() * input.jitterMs : 0;
  return Math.max(input.previousReleaseMs, input.nowMs + input.delayMs + jitter);
}

/**
 * Bandwidth: a chunk of `bytes` that is ready at `readyMs` goes out when the link is free and
 * keeps it busy for bytes / rate. Returns when it is fully sent (= when it may be written on).
 * A rate of 0 means unlimited.
 */
export function transmitDoneMs(input: {
  readyMs: number;
  linkFreeMs: number;
  bytes: number;
  bandwidthBytesPerSec: number;
}): number {
  if (input.bandwidthBytesPerSec <= 0) return input.readyMs;
  const startMs = Math.max(input.readyMs, input.linkFreeMs);
  return startMs + (input.bytes * 1000) / input.bandwidthBytesPerSec;
}

/**
 * Largest slice a chunk is cut into under a bandwidth limit, so that bytes trickle out
 * (about 20 slices a second) instead of arriving in one late burst.
 */
export function sliceBytesMax(bandwidthBytesPerSec: number, chunkBytesMax = 64 * 1024): number {
  if (bandwidthBytesPerSec <= 0) return chunkBytesMax;
  return Math.max(1, Math.min(chunkBytesMax, Math.floor(bandwidthBytesPerSec / 20)));
}

/** How many bytes of an arriving chunk fit under the queue bound. */
export function admitBytes(queuedBytes: number, chunkBytes: number, bufferBytesMax: number): number {
  return Math.max(0, Math.min(chunkBytes, bufferBytesMax - queuedBytes));
}
