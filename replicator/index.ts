/** Public entry of the replicator: links between regions, log shipping, heartbeats, failure detection. */
export { Replicator, type PeerStateListener, type NeedsRepairListener } from './replicator.js';
export { parseReplicatorOptions, type ReplicatorOptions, type ParsedReplicatorOptions, type ReplicatorDeps, DEFAULT_DOWN_FACTOR, DEFAULT_TRIM_INTERVAL_MS, DEFAULT_SEND_BUFFER_BYTES_MAX } from './options.js';
export { attachReplicationServer, REPLICATION_PATH, type ReplicationServerHandle } from './server.js';
export { encodeFrame, decodeFrame, PROTOCOL_VERSION, DEFAULT_FRAME_BYTES_MAX, type Frame, type FrameType, type ControlFrame, type HeartbeatFrame } from './codec.js';
export type { ControlHandler } from './control.js';
export type { PeerState, PeerStateChange } from './detector.js';
export { FailureDetector } from './detector.js';
export type { LogGap } from './sender.js';
export type { Transport } from './link.js';
export { DEFAULT_BATCH_RECORDS_MAX, DEFAULT_BATCH_BYTES_MAX, DEFAULT_WINDOW_BATCHES_MAX, DEFAULT_POLL_MS } from './sender.js';
export { DEFAULT_HEARTBEAT_MS, DEFAULT_MISSED_MAX } from './heartbeat.js';
export { DEFAULT_ACK_WAITERS_MAX } from './acks.js';
export { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { FrameError, FrameTooLargeError, HandshakeError, AckWaitersFullError, UnknownPeerError, ReplicatorOptionsError } from './errors.js';
export { MemoryLog, MemorySink } from './memory.js';
export type { ChangeRecord, LogSource, ChangeSink, ApplyOutcome, PeerStatus, PeerHealth, LinkState } from './types.js';
