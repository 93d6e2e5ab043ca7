/**
 * HTTP control of a running relay, so a relay in a container or another process can be driven
 * by tests and operators:
 *
 *   GET  /v1/wan  → WanState
 *   POST /v1/wan  { "action": "set", "direction": "ab"|"ba"|"both", "settings": { delayMs, jitterMs, bandwidthBytesPerSec, stall, cut } }
 *                 { "action": "cut", "direction": "ab"|"ba"|"both", "mode": "blackhole"|"reset" }
 *                 { "action": "heal", "keepDamaged"?: boolean }
 *                 → WanState, or 400 { error, field } for a bad body, 413 when over `bodyBytesMax`.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { WanRelay } from './relay.js';
import { cutModeSchema, directionSelectorSchema, directionSettingsPatchSchema, WanSettingsError } from './settings.js';

export const DEFAULT_CONTROL_BODY_BYTES_MAX = 4096;

export const wanCommandSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('set'), direction: directionSelectorSchema.default('both'), settings: directionSettingsPatchSchema }),
  z.strictObject({ action: z.literal('cut'), direction: directionSelectorSchema.default('both'), mode: cutModeSchema }),
  z.strictObject({ action: z.literal('heal'), keepDamaged: z.boolean().optional() }),
]);
export type WanCommand = z.input<typeof wanCommandSchema>;

/** Validates a control command; a bad one throws `WanSettingsError` naming the field. */
export function parseWanCommand(input: unknown): z.output<typeof wanCommandSchema> {
  const result = wanCommandSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'action';
  throw new WanSettingsError(field, issue?.message ?? 'invalid');
}

export function applyWanCommand(relay: WanRelay, input: unknown) {
  const command = parseWanCommand(input);
  switch (command.action) {
    case 'set':
      return relay.set(command.direction, command.settings);
    case 'cut':
      return relay.cut(command.direction, command.mode);
    case 'heal':
      return relay.heal(command.keepDamaged === undefined ? {} : { keepDamaged: command.keepDamaged });
  }
}

export function wanControlApp(relay: WanRelay, options: { bodyBytesMax?: number } = {}): Hono {
  const app = new Hono();
  const maxSize = options.bodyBytesMax ?? DEFAULT_CONTROL_BODY_BYTES_MAX;
  app.get('/v1/wan', (c) => c.json(relay.state()));
  app.post(
    '/v1/wan',
    bodyLimit({ maxSize, onError: (c) => c.json({ error: `body over ${maxSize} bytes` }, 413) }),
    async (c) => {
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        return c.json({ error: 'body is not JSON', field: 'body' }, 400);
      }
      return c.json(applyWanCommand(relay, body));
    },
  );
  app.onError((err, c) => {
    if (err instanceof WanSettingsError) return c.json({ error: err.message, field: err.field }, 400);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
