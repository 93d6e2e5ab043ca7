import { access } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConcurrentType } from './classify.js';
import { TriggerLoadError } from './errors.js';
import type { Json } from './json.js';
import type { Hlc, VersionVector } from './types.js';

/**
 * The compensation trigger contract (see docs/conflicts.md). A trigger is a user ESM module
 * named in the config as `{ name, module }` and used by keyspaces with
 * `resolver: trigger:<name>`. It exports a synchronous, pure function, as `resolve` or as
 * the default export, called at the partition's active region for every concurrent pair:
 *
 *   ({ base?, current, incoming, type, ctx }) → { value, contentType?, actions? }
 *                                             | { delete: true, actions? }
 *
 * It must not depend on which side is `current`: it is called with both orders and the two
 * answers must agree, or the resolution falls back to lww (every region must converge).
 */

/** One side of the conflict as a trigger sees it (a fresh copy per call). */
export interface TriggerSide {
  readonly value: Uint8Array;
  /** `value` parsed as JSON, when it is JSON; undefined otherwise and for tombstones. */
  readonly json: Json | undefined;
  readonly contentType: string;
  readonly tombstone: boolean;
  readonly vv: VersionVector;
  readonly hlc: Hlc;
  readonly origin: string;
  readonly epoch: number;
}

export interface TriggerContext {
  readonly keyspace: string;
  readonly key: string;
  readonly partition: number;
  /** The region resolving the conflict (the partition's active region). */
  readonly region: string;
}

export interface TriggerInput {
  /** The common ancestor, when the caller has one. */
  readonly base?: TriggerSide;
  readonly current: TriggerSide;
  readonly incoming: TriggerSide;
  /** Never 'delete-vs-delete': two tombstones are merged without asking the trigger. */
  readonly type: Exclude<ConcurrentType, 'delete-vs-delete'>;
  readonly ctx: TriggerContext;
}

/** A compensation the trigger requests; validated by `validateActions` (at most ACTIONS_MAX). */
export interface TriggerActionRequest {
  readonly kind: 'webhook';
  readonly url: string;
  readonly body: unknown;
}

/**
 * `value`: a Uint8Array (stored as is), a string (stored as UTF-8) or any other JSON value
 * (stored as canonical JSON, content type `application/json` unless given). `contentType`
 * defaults otherwise to the lww winner's.
 */
export type TriggerResult =
  | { readonly value: unknown; readonly contentType?: string; readonly actions?: readonly TriggerActionRequest[] }
  | { readonly delete: true; readonly actions?: readonly TriggerActionRequest[] };

export type TriggerFn = (input: TriggerInput) => TriggerResult;

/** Loaded triggers by name; frozen at boot. */
export type TriggerRegistry = ReadonlyMap<string, TriggerFn>;

/** A trigger as named in the config; `module` is relative to the config file's directory. */
export interface TriggerSpec {
  readonly name: string;
  readonly module: string;
}

export const TRIGGERS_MAX = 64;
const TRIGGER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Loads and checks every configured trigger; throws `TriggerLoadError` naming the first bad one. */
export async function loadTriggers(specs: readonly TriggerSpec[], baseDir: string): Promise<TriggerRegistry> {
  if (specs.length > TRIGGERS_MAX) {
    throw new TriggerLoadError(specs[TRIGGERS_MAX]?.name ?? '', 'too-many', `at most ${TRIGGERS_MAX} triggers may be configured`);
  }
  const registry = new Map<string, TriggerFn>();
  for (const spec of specs) {
    if (!TRIGGER_NAME.test(spec.name)) {
      throw new TriggerLoadError(spec.name, 'bad-name', 'a name is 1-64 characters of letters, digits, "_", "." or "-"');
    }
    if (registry.has(spec.name)) throw new TriggerLoadError(spec.name, 'duplicate', 'configured twice');
    registry.set(spec.name, await loadOne(spec, baseDir));
  }
  return registry;
}

async function loadOne(spec: TriggerSpec, baseDir: string): Promise<TriggerFn> {
  const file = resolvePath(baseDir, spec.module);
  try {
    await access(file);
  } catch {
    throw new TriggerLoadError(spec.name, 'not-found', `module ${file} does not exist or cannot be read`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new TriggerLoadError(spec.name, 'import-failed', `module ${file} failed to load: ${(err as Error).message}`);
  }
  const fn = typeof mod.resolve === 'function' ? mod.resolve : mod.default;
  if (typeof fn !== 'function') {
    throw new TriggerLoadError(spec.name, 'not-a-function', `module ${file} exports neither a function "resolve" nor a default function`);
  }
  if (/^Async/.test(fn.constructor.name)) {
    throw new TriggerLoadError(spec.name, 'async', `the function in ${file} is async; triggers must be synchronous`);
  }
  return fn as TriggerFn;
}
