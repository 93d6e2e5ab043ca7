/** Typed errors of the replication channel. Each has a stable `name`. */

export type FrameErrorKind = 'oversized' | 'malformed' | 'version' | 'shape';

/** A frame from a peer that cannot be accepted; the link closes with `message` as reason. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(readonly kind: FrameErrorKind, message: string) {
    super(message);
  }
}

/** A frame we are about to send exceeds `frameBytesMax` (a value larger than the channel allows). */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
  constructor(readonly bytes: number, readonly frameBytesMax: number) {
    super(`frame of ${bytes} bytes exceeds frameBytesMax ${frameBytesMax}`);
  }
}

export type HandshakeFailure =
  | 'version'
  | 'cluster-id'
  | 'unknown-peer'
  | 'self'
  | 'bad-proof'
  | 'protocol'
  | 'timeout'
  | 'closed'
  | 'settings'
  /** TLS: no certificate of the cluster CA, or one naming another region than claimed. */
  | 'certificate';

/** The HELLO exchange failed; `reason` feeds the auth-failure metric. */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  /** `peer`: the configured region the other side claimed to be, when known. */
  constructor(readonly reason: HandshakeFailure, message: string, readonly peer?: string) {
    super(message);
  }
}

/** `waitForAck` was called while `ackWaitersMax` waiters are already pending. */
export class AckWaitersFullError extends Error {
  override readonly name = 'AckWaitersFullError';
  constructor(readonly peer: string, readonly waitersMax: number) {
    super(`peer ${peer}: ${waitersMax} ack waiters already pending`);
  }
}

/** A region name that is not a configured peer. */
export class UnknownPeerError extends Error {
  override readonly name = 'UnknownPeerError';
  constructor(readonly peer: string) {
    super(`unknown peer region ${JSON.stringify(peer)}`);
  }
}

/** Invalid replicator options; names the bad field. */
export class ReplicatorOptionsError extends Error {
  override readonly name = 'ReplicatorOptionsError';
  constructor(readonly field: string, message: string) {
    super(`replicator option ${field}: ${message}`);
  }
}
