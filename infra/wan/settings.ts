/**
 * What a WAN link does to the bytes crossing it, per direction. `ab` is client → target
 * (the side that dialled the relay towards the side the relay dials), `ba` the way back.
 */
import { z } from 'zod';

export type Direction = 'ab' | 'ba';
export type DirectionSelector = Direction | 'both';
/** `blackhole`: sockets stay open, bytes are silently dropped. `reset`: connections are destroyed and new ones refused. */
export type CutMode = 'blackhole' | 'reset';

export interface DirectionSettings {
  /** Fixed one-way delay added to every chunk. */
  delayMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs] per chunk (release order is kept). */
  jitterMs: number;
  /** Serialisation rate; 0 means unlimited. */
  bandwidthBytesPerSec: number;
  /** Hold bytes (queued, bounded) without closing anything. */
  stall: boolean;
  /** A cut of this direction, or `none`. */
  cut: CutMode | 'none';
}

export const DEFAULT_DIRECTION_SETTINGS: Readonly<DirectionSettings> = Object.freeze({
  delayMs: 0,
  jitterMs: 0,
  bandwidthBytesPerSec: 0,
  stall: false,
  cut: 'none',
});

export const DELAY_MS_MAX = 600_000;
export const DIRECTIONS: readonly Direction[] = ['ab', 'ba'];

export const directionSchema = z.enum(['ab', 'ba']);
export const directionSelectorSchema = z.enum(['ab', 'ba', 'both']);
export const cutModeSchema = z.enum(['blackhole', 'reset']);

export const directionSettingsPatchSchema = z.strictObject({
  delayMs: z.number().int().min(0).max(DELAY_MS_MAX).optional(),
  jitterMs: z.number().int().min(0).max(DELAY_MS_MAX).optional(),
  bandwidthBytesPerSec: z.number().int().min(0).optional(),
  stall: z.boolean().optional(),
  cut: z.enum(['none', 'blackhole', 'reset']).optional(),
});
export type DirectionSettingsPatch = z.infer<typeof directionSettingsPatchSchema>;

/** Thrown for a bad setting; `field` names it. */
export class WanSettingsError extends Error {
  override readonly name = 'WanSettingsError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** Validates a patch (from code or from the control API) and names the first bad field. */
export function parseSettingsPatch(input: unknown): DirectionSettingsPatch {
  const result = directionSettingsPatchSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'settings';
  throw new WanSettingsError(field, issue?.message ?? 'invalid');
}

export function applyPatch(current: DirectionSettings, patch: DirectionSettingsPatch): DirectionSettings {
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined) (next as Record<string, unknown>)[key] = value;
  }
  return next;
}

export function selectDirections(selector: DirectionSelector): readonly Direction[] {
  return selector === 'both' ? DIRECTIONS : [selector];
}
