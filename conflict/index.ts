/**
 * The conflict folder's one public entry: pure conflict logic (no I/O, no clock, no
 * randomness; `loadTriggers` is the one boot-time exception, it imports user modules).
 * See docs/conflicts.md.
 */
export type { ConflictType, Hlc, RecordMeta, RecordVersion, VersionVector, VvOrder } from './types.js';
export { bumpVv, compareVv, mergeVv, vvFromString, vvToString } from './vv.js';
export { compareHlc, hlcFromString, hlcToString, receiveHlc, tickHlc } from './hlc.js';
export { type Classification, type ClassifyOptions, type ConcurrentType, classify, shareHistory } from './classify.js';
export { compareLww } from './order.js';
export { EXPIRED_CONTENT_TYPE, expiredVersionOf, refreshesExpired } from './expired.js';
export { type MergeContext, type Resolution, type ResolveInput, type ResolverSpec, parseResolver, resolve } from './resolve.js';
export type { TriggerFailure, TriggerFailureCode } from './resolvers/decision.js';
export { type PnCounter, EMPTY_COUNTER, addToCounter, counterTotal, encodeCounter, mergeCounters, parseCounter } from './resolvers/counter.js';
export { parseSet } from './resolvers/set.js';
export {
  type TriggerActionRequest,
  type TriggerContext,
  type TriggerFn,
  type TriggerInput,
  type TriggerRegistry,
  type TriggerResult,
  type TriggerSide,
  type TriggerSpec,
  TRIGGERS_MAX,
  loadTriggers,
} from './triggers.js';
export { TRIGGER_VALUE_BYTES_MAX } from './trigger-run.js';
export {
  type ActionRequest,
  type CompensationAction,
  type WebhookAction,
  ACTIONS_MAX,
  ACTION_BODY_BYTES_MAX,
  ACTION_URL_CHARS_MAX,
  validateActions,
} from './actions.js';
export { actionId, conflictId } from './ids.js';
export { type TriggerLoadReason, ResolverSpecError, TriggerLoadError } from './errors.js';
export { type Json, JSON_DEPTH_MAX, canonicalJson, decodeJson, encodeJson } from './json.js';
