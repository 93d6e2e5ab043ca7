import { actionId } from './ids.js';
import { type Json, asJson, canonicalJson } from './json.js';
import type { VersionVector } from './types.js';

/**
 * Compensating actions a trigger may request with its resolution. The conflict folder only
 * validates them and gives each a deterministic id; performing them (I/O) belongs to the
 * gateway, which must do so at most once per id (the id is the idempotency key).
 */
export const ACTIONS_MAX = 8;
export const ACTION_URL_CHARS_MAX = 2048;
export const ACTION_BODY_BYTES_MAX = 16 * 1024;

/** POST `body` (as JSON) to `url`. */
export interface WebhookAction {
  /** Hash of keyspace, key, both conflicting version vectors and the action's index. */
  readonly id: string;
  readonly kind: 'webhook';
  /** An absolute http: or https: URL, normalised. */
  readonly url: string;
  readonly body: Json;
}

export type CompensationAction = WebhookAction;

/** An action as a trigger returns it (before validation and ids). */
export type ActionRequest = Omit<CompensationAction, 'id'>;

export type ActionsCheck = { readonly ok: true; readonly actions: ActionRequest[] } | { readonly ok: false; readonly message: string };

/** Validates a trigger's `actions` member (undefined = none). */
export function validateActions(raw: unknown): ActionsCheck {
  if (raw === undefined) return { ok: true, actions: [] };
  if (!Array.isArray(raw)) return { ok: false, message: 'actions must be an array' };
  if (raw.length > ACTIONS_MAX) return { ok: false, message: `${raw.length} actions requested, at most ${ACTIONS_MAX} allowed` };
  const actions: ActionRequest[] = [];
  for (const [index, item] of raw.entries()) {
    const checked = validateAction(item);
    if (typeof checked === 'string') return { ok: false, message: `actions[${index}]: ${checked}` };
    actions.push(checked);
  }
  return { ok: true, actions };
}

function validateAction(item: unknown): ActionRequest | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'not an object (a webhook action is { kind, url, body })';
  const { kind, url: rawUrl, body: rawBody } = item as Record<string, unknown>;
  if (kind !== 'webhook') return `unknown kind ${typeof kind === 'string' ? JSON.stringify(kind) : typeof kind}; expected "webhook"`;
  const url = checkUrl(rawUrl);
  if (typeof url !== 'string') return url.error;
  const body = asJson(rawBody);
  if (body === undefined) return 'body is missing or not JSON-serialisable';
  const bytes = Buffer.byteLength(canonicalJson(body));
  if (bytes > ACTION_BODY_BYTES_MAX) return `body is ${bytes} bytes, at most ${ACTION_BODY_BYTES_MAX} allowed`;
  return { kind: 'webhook', url, body };
}

/** The normalised URL, or why it is refused. */
function checkUrl(raw: unknown): string | { error: string } {
  if (typeof raw !== 'string') return { error: 'url must be a string' };
  if (raw.length > ACTION_URL_CHARS_MAX) return { error: `url is longer than ${ACTION_URL_CHARS_MAX} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { error: `url ${JSON.stringify(raw)} is not an absolute URL` };
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.href;
  return { error: `url must be http or https, got ${url.protocol}` };
}

/** Gives each requested action its deterministic id (see `actionId`). */
export function stampActions(
  requests: readonly ActionRequest[],
  where: { readonly keyspace: string; readonly key: string },
  a: VersionVector,
  b: VersionVector,
): CompensationAction[] {
  return requests.map((request, index) => ({ id: actionId(where.keyspace, where.key, a, b, index), ...request }));
}
