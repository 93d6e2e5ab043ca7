import { type ActionRequest, stampActions, validateActions } from './actions.js';
import { type Json, asJson, bytesEqual, canonicalJson, decodeJson, encodeJson, encodeText } from './json.js';
import { type Decision, type PairInput, type TriggerFailure, lww, lwwSide } from './resolvers/decision.js';
import type { TriggerContext, TriggerInput, TriggerRegistry, TriggerSide } from './triggers.js';
import type { RecordVersion } from './types.js';

/** Largest value a trigger may return. */
export const TRIGGER_VALUE_BYTES_MAX = 1024 * 1024;
const MESSAGE_CHARS_MAX = 300;

interface Outcome {
  readonly tombstone: boolean;
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly actions: readonly ActionRequest[];
}

/**
 * Runs trigger `name` on the pair, twice (current/incoming swapped the second time) and
 * requires the same outcome both times. Never throws: a missing trigger, an exception, a
 * Promise, a malformed result or an order-dependent answer → lww, with `error` set.
 */
export function runTrigger(name: string, registry: TriggerRegistry | undefined, pair: PairInput, ctx: TriggerContext): Decision {
  if (pair.type === 'delete-vs-delete') throw new Error('two tombstones never reach a trigger');
  const resolver = `trigger:${name}`;
  const fn = registry?.get(name);
  if (fn === undefined) return failed(pair, resolver, { code: 'missing', message: `no trigger named "${name}" is loaded` });
  const contentType = lwwSide(pair).contentType;
  const call = (swapped: boolean): Outcome | TriggerFailure => {
    try {
      const out: unknown = fn(triggerInput(pair, ctx, swapped));
      return parseResult(out, contentType);
    } catch (err) {
      return { code: 'threw', message: describe(err) };
    }
  };
  const first = call(false);
  if (!('value' in first)) return failed(pair, resolver, first);
  const second = call(true);
  if (!('value' in second)) return failed(pair, resolver, second);
  if (!sameOutcome(first, second)) {
    return failed(pair, resolver, { code: 'asymmetric', message: 'the answer changed when current and incoming were swapped' });
  }
  const actions = stampActions(first.actions, ctx, pair.current.vv, pair.incoming.vv);
  const winner = matches(first, pair.current) ? 'current' : matches(first, pair.incoming) ? 'incoming' : 'merged';
  if (winner !== 'merged') return { winner, resolver, actions };
  return { winner, merged: { value: first.value, contentType: first.contentType, tombstone: first.tombstone }, resolver, actions };
}

function failed(pair: PairInput, resolver: string, error: TriggerFailure): Decision {
  return { ...lww(pair, `${resolver} failed (${error.code}): ${error.message}; resolved by lww`), error };
}

function triggerInput(pair: PairInput, ctx: TriggerContext, swapped: boolean): TriggerInput {
  const [current, incoming] = swapped ? [pair.incoming, pair.current] : [pair.current, pair.incoming];
  const type = pair.type as TriggerInput['type']; // runTrigger refused delete-vs-delete
  const input = { current: side(current), incoming: side(incoming), type, ctx: { ...ctx } };
  return pair.base ? { ...input, base: side(pair.base) } : input;
}

function side(v: RecordVersion): TriggerSide {
  const json = v.tombstone ? undefined : decodeJson(v.value);
  return { value: v.value.slice(), json, contentType: v.contentType, tombstone: v.tombstone, vv: { ...v.vv }, hlc: [v.hlc[0], v.hlc[1]], origin: v.origin, epoch: v.epoch };
}

function parseResult(out: unknown, defaultContentType: string): Outcome | TriggerFailure {
  const bad = (message: string): TriggerFailure => ({ code: 'bad-result', message });
  if (typeof (out as { then?: unknown } | null)?.then === 'function') {
    (out as Promise<unknown>).then(undefined, () => undefined); // never an unhandled rejection
    return { code: 'async', message: 'returned a Promise; triggers must be synchronous' };
  }
  if (typeof out !== 'object' || out === null) return bad(`returned ${out === null ? 'null' : typeof out}; expected { value } or { delete: true }`);
  const result = out as { value?: unknown; delete?: unknown; contentType?: unknown; actions?: unknown };
  const checked = validateActions(result.actions);
  if (!checked.ok) return bad(checked.message);
  if (result.delete === true) return { tombstone: true, value: new Uint8Array(0), contentType: defaultContentType, actions: checked.actions };
  const body = encodeValue(result.value);
  if (body === undefined) return bad('value is missing or neither bytes, a string nor JSON');
  if (body.bytes.length > TRIGGER_VALUE_BYTES_MAX) return bad(`value is ${body.bytes.length} bytes, at most ${TRIGGER_VALUE_BYTES_MAX} allowed`);
  const contentType = result.contentType ?? (body.json ? 'application/json' : defaultContentType);
  if (typeof contentType !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(contentType)) return bad('contentType must be a printable string of 1-255 characters');
  return { tombstone: false, value: body.bytes, contentType, actions: checked.actions };
}

function encodeValue(value: unknown): { bytes: Uint8Array; json: boolean } | undefined {
  if (value instanceof Uint8Array) return { bytes: value.slice(), json: false };
  if (typeof value === 'string') return { bytes: encodeText(value), json: false };
  const json: Json | undefined = value === undefined ? undefined : asJson(value);
  return json === undefined ? undefined : { bytes: encodeJson(json), json: true };
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return (
    a.tombstone === b.tombstone &&
    a.contentType === b.contentType &&
    bytesEqual(a.value, b.value) &&
    canonicalJson(a.actions as unknown as Json) === canonicalJson(b.actions as unknown as Json)
  );
}

function matches(o: Outcome, v: RecordVersion): boolean {
  if (o.tombstone || v.tombstone) return o.tombstone && v.tombstone;
  return o.contentType === v.contentType && bytesEqual(o.value, v.value);
}

function describe(err: unknown): string {
  let text: string;
  try {
    text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    text = 'an unprintable value was thrown';
  }
  return text.length > MESSAGE_CHARS_MAX ? `${text.slice(0, MESSAGE_CHARS_MAX)}…` : text;
}
