import type { Hlc } from './types.js';

/** Orders two HLC stamps: negative when a < b. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

/** The next local stamp after `last`, given the wall clock `nowMs`. */
export function tickHlc(last: Hlc, nowMs: number): Hlc {
  return nowMs > last[0] ? [nowMs, 0] : [last[0], last[1] + 1];
}

/** The stamp after receiving `remote` (HLC receive rule). */
export function receiveHlc(last: Hlc, remote: Hlc, nowMs: number): Hlc {
  const wall = Math.max(last[0], remote[0], nowMs);
  if (wall === last[0] && wall === remote[0]) return [wall, Math.max(last[1], remote[1]) + 1];
  if (wall === last[0]) return [wall, last[1] + 1];
  if (wall === remote[0]) return [wall, remote[1] + 1];
  return [wall, 0];
}

export function hlcToString(h: Hlc): string {
  return `${h[0]}.${h[1]}`;
}

export function hlcFromString(text: string): Hlc | null {
  const [w, l] = text.split('.');
  const wall = Number(w);
  const logical = Number(l);
  if (!Number.isSafeInteger(wall) || !Number.isSafeInteger(logical)) return null;
  return [wall, logical];
}
