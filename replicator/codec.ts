/**
 * The one codec of the replication channel: msgpackr, plain maps (no shared record
 * structures, so both ends decode without negotiated state), binary values as `bin`.
 * Every frame carries the protocol version `v`. Decoding an untrusted frame never throws:
 * it returns a `FrameError` and the link closes with that reason.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { checkPacked, type LogEntry } from './packed.js';
import { FrameError, FrameTooLargeError } from './errors.js';

/** 2: CHANGES carry packed changes (packed.ts) instead of one msgpack map per record. 3: a packed change may carry the idempotency trailer (fields 13-15). 4: and the expiry trailer (the last field). */
export const PROTOCOL_VERSION = 4;
export const DEFAULT_FRAME_BYTES_MAX = 4 * 1024 * 1024;
/** Upper bound on partition ids listed as fenced in one heartbeat. */
export const HEARTBEAT_FENCED_MAX = 4096;
export const NONCE_BYTES = 32;
/** A CHANGES frame's msgpack framing: its map (t, v, records, array header), and per record its `bin` header. */
export const CHANGES_FRAME_HEADER_BYTES = 64;
export const CHANGES_RECORD_FRAMING_BYTES = 5;

/** Upper bound of the encoded size of a CHANGES frame holding `records` packed changes of `recordBytes` bytes in all. */
export function changesFrameBytesMax(records: number, recordBytes: number): number {
  return CHANGES_FRAME_HEADER_BYTES + records * CHANGES_RECORD_FRAMING_BYTES + recordBytes;
}

const packr = new Packr({
  useRecords: false, // plain msgpack maps: no shared structures between peers
  structuredClone: false, // no cycles or references from the wire
  moreTypes: false, // no typed-array / Set / Error extensions
  mapsAsObjects: true, // maps decode to plain objects (validated below)
  bundleStrings: false,
  copyBuffers: true, // decoded values never alias the socket buffer
  int64AsType: 'number',
  useTimestamp32: false,
  encodeUndefinedAsNil: true,
  variableMapSize: true, // smallest map header (keeps heartbeats tiny)
});

export interface HelloFrame {
  readonly t: 'hello';
  readonly v: number;
  readonly region: string;
  readonly clusterId: string;
  /** Incarnation of the sender's own log. */
  readonly incarnation: string;
  readonly nonce: Uint8Array;
  /** Last applied seq per origin, as the sender of this frame knows it (for the receiver's log). */
  readonly applied: Readonly<Record<string, number>>;
  /** HMAC proof (null in the dialler's first HELLO, which has not seen the server's nonce). */
  readonly proof: Uint8Array | null;
  /** The server's shared settings (handshake.ts `LinkSettings`); absent in the dialler's HELLO. */
  readonly settings?: unknown;
}

export interface AuthFrame {
  readonly t: 'auth';
  readonly v: number;
  readonly proof: Uint8Array;
  readonly applied: Readonly<Record<string, number>>;
  /** The dialler's shared settings (sent once its proof authenticates it). */
  readonly settings?: unknown;
}

export interface ChangesFrame {
  readonly t: 'changes';
  readonly v: number;
  /** Log entries in seq order; on the wire only their packed bytes (`bin`), each carrying its seq. */
  readonly records: readonly LogEntry[];
}

export interface AckFrame {
  readonly t: 'ack';
  readonly v: number;
  /** Cumulative: every entry of the receiver's log with seq <= this is applied. */
  readonly seq: number;
}

export interface HeartbeatFrame {
  readonly t: 'hb';
  readonly v: number;
  /** Sender's replication lag toward the receiver. */
  readonly lagMs: number;
  readonly lagEntries: number;
  /** Sender's receive queue length (batches waiting to be applied). */
  readonly queue: number;
  /** Sender's load in per mille (0..1000+), supplied by the gateway. */
  readonly loadPermille: number;
  /** Partitions the sender currently fences. */
  readonly fenced: readonly number[];
}

/** Extensible frame for later protocols (anti-entropy, lease votes): routed by topic. */
export interface ControlFrame {
  readonly t: 'ctl';
  readonly v: number;
  readonly topic: string;
  readonly body: unknown;
}

export type Frame = HelloFrame | AuthFrame | ChangesFrame | AckFrame | HeartbeatFrame | ControlFrame;
export type FrameType = Frame['t'];
export const FRAME_TYPES: readonly FrameType[] = ['hello', 'auth', 'changes', 'ack', 'hb', 'ctl'];

export type DecodeResult = { readonly ok: true; readonly frame: Frame } | { readonly ok: false; readonly error: FrameError };

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const name = z.string().min(1).max(256);
const bytes = z.instanceof(Uint8Array);
const appliedMap = z.record(name, uint);

export const FRAME_SCHEMAS = {
  hello: z.object({
    t: z.literal('hello'), v: uint, region: name, clusterId: name, incarnation: name,
    nonce: bytes.refine((b) => b.byteLength === NONCE_BYTES, 'nonce length'),
    applied: appliedMap, proof: bytes.nullable(), settings: z.unknown().optional(),
  }),
  auth: z.object({ t: z.literal('auth'), v: uint, proof: bytes, applied: appliedMap, settings: z.unknown().optional() }),
  // each record is a packed change, validated by checkPacked (packed.ts)
  changes: z.object({ t: z.literal('changes'), v: uint, records: z.array(bytes).min(1) }),
  ack: z.object({ t: z.literal('ack'), v: uint, seq: uint }),
  // Heartbeats travel with one-letter keys (see toWire): idle traffic stays far below 1 KB/s.
  hb: z.object({
    t: z.literal('hb'), v: uint, l: uint, e: uint, q: uint, d: uint,
    f: z.array(uint).max(HEARTBEAT_FENCED_MAX),
  }),
  ctl: z.object({ t: z.literal('ctl'), v: uint, topic: name, body: z.unknown() }),
} as const;

function toWire(frame: Frame): unknown {
  if (frame.t === 'changes') return { t: 'changes', v: frame.v, records: frame.records.map((r) => r.bytes) };
  if (frame.t !== 'hb') return frame;
  return { t: 'hb', v: frame.v, l: frame.lagMs, e: frame.lagEntries, q: frame.queue, d: frame.loadPermille, f: frame.fenced };
}

/** Encodes a frame; throws `FrameTooLargeError` when it would exceed `frameBytesMax`. */
export function encodeFrame(frame: Frame, frameBytesMax = DEFAULT_FRAME_BYTES_MAX): Uint8Array {
  const out = packr.pack(toWire(frame));
  if (out.byteLength > frameBytesMax) throw new FrameTooLargeError(out.byteLength, frameBytesMax);
  return out;
}

/** Decodes and validates one untrusted frame. Never throws. */
export function decodeFrame(data: Uint8Array, frameBytesMax = DEFAULT_FRAME_BYTES_MAX): DecodeResult {
  if (data.byteLength > frameBytesMax) {
    return fail('oversized', `frame of ${data.byteLength} bytes exceeds frameBytesMax ${frameBytesMax}`);
  }
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch (err) {
    return fail('malformed', `undecodable frame: ${(err as Error).message}`.slice(0, 200));
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('shape', 'frame is not a map');
  const head = raw as { t?: unknown; v?: unknown };
  if (head.v !== PROTOCOL_VERSION) return fail('version', `protocol version ${String(head.v)} != ${PROTOCOL_VERSION}`);
  if (typeof head.t !== 'string' || !Object.hasOwn(FRAME_SCHEMAS, head.t)) return fail('shape', `unknown frame type ${String(head.t).slice(0, 32)}`);
  if (head.t === 'changes') {
    const checked = checkChanges(raw as Record<string, unknown>);
    return typeof checked === 'string' ? fail('shape', `bad changes frame at ${checked}`) : { ok: true, frame: checked };
  }
  const parsed = FRAME_SCHEMAS[head.t as FrameType].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail('shape', `bad ${head.t} frame at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  return { ok: true, frame: fromWire(parsed.data) };
}

/*
 * CHANGES frames carry the bulk of the traffic: an array of packed changes, each checked by
 * `checkPacked` (the rules the store relies on), never turned into objects. Returns the
 * frame with each entry's seq, or the path of the first bad field.
 */
export function checkChanges(frame: Record<string, unknown>): ChangesFrame | string {
  if (!isUint(frame.v)) return 'v: not a non-negative integer';
  const records = frame.records;
  if (!Array.isArray(records) || records.length === 0) return 'records: not a non-empty array';
  const entries: LogEntry[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const bytes: unknown = records[i];
    if (!(bytes instanceof Uint8Array)) return `records.${i}: not bytes`;
    const seq = checkPacked(bytes);
    if (typeof seq === 'string') return `records.${i}.${seq}`;
    entries[i] = { seq, bytes };
  }
  return { t: 'changes', v: frame.v, records: entries };
}

function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function fromWire(data: z.infer<(typeof FRAME_SCHEMAS)[FrameType]>): Frame {
  if (data.t !== 'hb') return data as Frame;
  return { t: 'hb', v: data.v, lagMs: data.l, lagEntries: data.e, queue: data.q, loadPermille: data.d, fenced: data.f };
}

function fail(kind: FrameError['kind'], message: string): DecodeResult {
  return { ok: false, error: new FrameError(kind, message) };
}

/** Raw msgpack of any value, for tests that forge peer frames. */
export function packRaw(value: unknown): Uint8Array {
  return packr.pack(value);
}
