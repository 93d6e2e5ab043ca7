/**
 * HELLO exchange over a fresh channel (three frames, mutual HMAC challenge–response):
 *   dialer → HELLO  { region, clusterId, incarnation, nonceD, proof: null }
 *   server → HELLO  { region, clusterId, incarnation, nonceS, applied, proof: HMAC(server, …) }
 *   dialer → AUTH   { proof: HMAC(dialer, …), applied }
 * `applied` is the sender's last applied seq of the receiver's log (for the receiver's
 * current incarnation): it is the receiver's shipping cursor. Version mismatches are caught
 * by the codec (every frame carries `v`).
 *
 * With `LinkSettings`, the server's HELLO and the dialer's AUTH also carry each side's shared
 * settings (placement, lease, resolvers: witness/shared-settings.ts), each sent once the
 * sender's proof authenticates it; each side compares the other's and refuses a
 * disagreement as `settings`, naming the first differing field. A dialer that refuses still
 * sends its AUTH first, so the server logs the same named reason.
 */
import type { Clock } from '../infra/clock.js';
import { computeProof, newNonce, verifyProof, type ProofInput } from './auth.js';
import { PROTOCOL_VERSION, type Frame, type HelloFrame } from './codec.js';
import { HandshakeError } from './errors.js';
import type { CloseKind, FrameChannel } from './link.js';

export const DEFAULT_HANDSHAKE_MS = 5_000;

export interface HandshakeContext {
  readonly region: string;
  readonly clusterId: string;
  /** Cluster secrets, read at every handshake: the first signs, any of them is accepted (rotation). */
  readonly secrets: () => readonly string[];
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** Configured peer regions. */
  readonly isPeer: (region: string) => boolean;
  readonly incarnation: () => Promise<string>;
  /** Last applied seq of `origin`'s log at `incarnation` in the local store. */
  readonly appliedSeq: (origin: string, incarnation: string) => Promise<number>;
  /** Settings the peers must share; absent: not exchanged (replicator tests). */
  readonly settings?: LinkSettings | undefined;
}

/** What both ends of a link must agree on, opaque to the replicator. */
export interface LinkSettings {
  /** Sent to the peer (plain data: msgpack-encodable). */
  readonly local: unknown;
  /** Null when the peer's settings agree, else the first difference, named (`remote` is untrusted; undefined when the peer sent none). */
  compare(remote: unknown, peer: string): string | null;
}

function settingsRefusal(ctx: HandshakeContext, remote: unknown, peer: string): HandshakeError | null {
  if (!ctx.settings) return null;
  const problem = ctx.settings.compare(remote ?? undefined, peer);
  return problem === null ? null : new HandshakeError('settings', `settings differ from ${peer}'s: ${problem}`, peer);
}

export interface HandshakeResult {
  readonly peer: string;
  /** Incarnation of the peer's log (applies its CHANGES under it). */
  readonly peerIncarnation: string;
  /** Incarnation of our log that `cursor` refers to. */
  readonly ownIncarnation: string;
  /** Last seq of our log the peer has applied: shipping resumes after it. */
  readonly cursor: number;
}

export async function dialerHandshake(ch: FrameChannel, ctx: HandshakeContext, peer: string): Promise<HandshakeResult> {
  const { next, done } = frameReader(ch, ctx);
  try {
    return await dialerSteps(ch, ctx, peer, next);
  } finally {
    done();
  }
}

async function dialerSteps(ch: FrameChannel, ctx: HandshakeContext, peer: string, next: () => Promise<Frame>): Promise<HandshakeResult> {
  const nonceD = newNonce();
  const ownIncarnation = await ctx.incarnation();
  ch.send({ t: 'hello', v: PROTOCOL_VERSION, region: ctx.region, clusterId: ctx.clusterId, incarnation: ownIncarnation, nonce: nonceD, applied: {}, proof: null });
  const hello = expectHello(await next(), ctx);
  if (hello.region !== peer) throw new HandshakeError('unknown-peer', `dialled ${peer} but ${hello.region} answered`);
  const input = proofInput(ctx, ctx.region, peer, nonceD, hello.nonce);
  if (!verifyAny(ctx, { ...input, role: 'server' }, hello.proof)) throw new HandshakeError('bad-proof', 'server proof does not match the cluster secret', peer);
  const applied = await ctx.appliedSeq(peer, hello.incarnation);
  ch.send({
    t: 'auth', v: PROTOCOL_VERSION, proof: computeProof(signing(ctx), { ...input, role: 'dialer' }), applied: { [peer]: applied },
    ...(ctx.settings ? { settings: ctx.settings.local } : {}),
  });
  const refusal = settingsRefusal(ctx, hello.settings, peer);
  if (refusal) throw refusal;
  return { peer, peerIncarnation: hello.incarnation, ownIncarnation, cursor: hello.applied[ctx.region] ?? 0 };
}

/**
 * `certRegions`: on a TLS listener, the regions the dialer's verified certificate names;
 * a HELLO claiming any other region is refused (`certificate`) before anything is sent.
 */
export async function serverHandshake(ch: FrameChannel, ctx: HandshakeContext, certRegions?: readonly string[]): Promise<HandshakeResult> {
  const { next, done } = frameReader(ch, ctx);
  try {
    return await serverSteps(ch, ctx, next, certRegions);
  } finally {
    done();
  }
}

async function serverSteps(ch: FrameChannel, ctx: HandshakeContext, next: () => Promise<Frame>, certRegions: readonly string[] | undefined): Promise<HandshakeResult> {
  const hello = expectHello(await next(), ctx);
  if (hello.region === ctx.region) throw new HandshakeError('self', 'peer claims our own region');
  if (!ctx.isPeer(hello.region)) throw new HandshakeError('unknown-peer', `region ${hello.region} is not a configured peer`);
  if (certRegions && !certRegions.includes(hello.region)) {
    const named = certRegions.length === 0 ? 'no region' : `region ${certRegions.join(', ')}`;
    throw new HandshakeError('certificate', `HELLO claims region ${hello.region} but the client certificate names ${named}`, hello.region);
  }
  if (hello.proof !== null) throw new HandshakeError('protocol', 'dialer HELLO must not carry a proof');
  const nonceS = newNonce();
  const input = proofInput(ctx, hello.region, ctx.region, hello.nonce, nonceS);
  const [ownIncarnation, applied] = await Promise.all([ctx.incarnation(), ctx.appliedSeq(hello.region, hello.incarnation)]);
  ch.send({
    t: 'hello', v: PROTOCOL_VERSION, region: ctx.region, clusterId: ctx.clusterId, incarnation: ownIncarnation,
    nonce: nonceS, applied: { [hello.region]: applied }, proof: computeProof(signing(ctx), { ...input, role: 'server' }),
    ...(ctx.settings ? { settings: ctx.settings.local } : {}),
  });
  const auth = await next();
  if (auth.t !== 'auth') throw new HandshakeError('protocol', `expected AUTH, got ${auth.t}`, hello.region);
  if (!verifyAny(ctx, { ...input, role: 'dialer' }, auth.proof)) throw new HandshakeError('bad-proof', 'dialer proof does not match the cluster secret', hello.region);
  const refusal = settingsRefusal(ctx, auth.settings, hello.region);
  if (refusal) throw refusal;
  return { peer: hello.region, peerIncarnation: hello.incarnation, ownIncarnation, cursor: auth.applied[ctx.region] ?? 0 };
}

function signing(ctx: HandshakeContext): string {
  const secret = ctx.secrets()[0];
  if (secret === undefined) throw new HandshakeError('bad-proof', 'no cluster secret configured');
  return secret;
}

function verifyAny(ctx: HandshakeContext, input: ProofInput, proof: Uint8Array | null): boolean {
  return ctx.secrets().some((secret) => verifyProof(secret, input, proof));
}

function proofInput(ctx: HandshakeContext, dialerRegion: string, serverRegion: string, dialerNonce: Uint8Array, serverNonce: Uint8Array): Omit<ProofInput, 'role'> {
  return { version: PROTOCOL_VERSION, clusterId: ctx.clusterId, dialerRegion, serverRegion, dialerNonce, serverNonce };
}

function expectHello(frame: Frame, ctx: HandshakeContext): HelloFrame {
  if (frame.t !== 'hello') throw new HandshakeError('protocol', `expected HELLO, got ${frame.t}`);
  if (frame.clusterId !== ctx.clusterId) throw new HandshakeError('cluster-id', `cluster id ${frame.clusterId} != ${ctx.clusterId}`);
  return frame;
}

/** Next-frame reader with one deadline for the whole handshake; at most one frame buffered. */
function frameReader(ch: FrameChannel, ctx: HandshakeContext): { next: () => Promise<Frame>; done: () => void } {
  let buffered: Frame | null = null;
  let failure: HandshakeError | null = null;
  let waiting: { resolve: (f: Frame) => void; reject: (e: HandshakeError) => void } | null = null;
  const fail = (err: HandshakeError): void => {
    failure ??= err;
    waiting?.reject(failure);
    waiting = null;
  };
  const timer = ctx.clock.setTimer(ctx.timeoutMs, () => fail(new HandshakeError('timeout', `handshake not done in ${ctx.timeoutMs} ms`)));
  ch.onClosed((reason, kind: CloseKind) => {
    timer.cancel();
    fail(new HandshakeError(kind === 'version' ? 'version' : 'closed', reason));
  });
  const handler = (frame: Frame): void => {
    if (waiting) {
      const w = waiting;
      waiting = null;
      ch.setFrameHandler(null); // hold what follows until the next step (or the session) asks
      w.resolve(frame);
    } else if (buffered) fail(new HandshakeError('protocol', 'unexpected frame during handshake'));
    else buffered = frame;
  };
  ch.setFrameHandler(handler);
  const next = (): Promise<Frame> => {
    if (failure) return Promise.reject(failure);
    if (buffered) {
      const frame = buffered;
      buffered = null;
      return Promise.resolve(frame);
    }
    const promise = new Promise<Frame>((resolve, reject) => { waiting = { resolve, reject }; });
    ch.setFrameHandler(handler);
    return promise;
  };
  return { next, done: () => timer.cancel() };
}
