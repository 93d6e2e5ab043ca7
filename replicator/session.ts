/**
 * One authenticated link to one peer: routes the peer's frames to the receiver, the
 * sender's ack handling, the health record and the control topics; ships our log through
 * the sender; fills silences with heartbeats. Dies with its link.
 */
import type { Clock } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import type { Frame, HeartbeatFrame } from './codec.js';
import type { ControlRegistry } from './control.js';
import type { HandshakeResult } from './handshake.js';
import { HeartbeatSender, RTT_TOPIC, RttProbe } from './heartbeat.js';
import type { FrameChannel } from './link.js';
import { ChangeReceiver } from './receiver.js';
import { LogSender, type SenderHooks, type SenderOptions } from './sender.js';
import type { ApplyOutcome, ChangeSink, LogSource, PeerHealth } from './types.js';

export interface SessionDeps {
  readonly source: LogSource;
  readonly sink: ChangeSink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly control: ControlRegistry;
  readonly heartbeatMs: number;
  readonly receiveQueueBatchesMax: number;
  readonly sender: SenderOptions;
}

export interface SessionHooks extends SenderHooks {
  readonly onHeard: () => void;
  readonly onHealth: (health: HeartbeatFrame) => void;
  readonly onOutcomes: (outcomes: readonly ApplyOutcome[]) => void;
  /** Our health toward this peer, for heartbeats. */
  readonly health: () => PeerHealth;
}

export class PeerSession {
  readonly sender: LogSender;
  readonly receiver: ChangeReceiver;
  private readonly heartbeat: HeartbeatSender;
  /** The link's round trip (heartbeat.ts), answered here before anything reaches the store. */
  readonly rtt: RttProbe;

  constructor(readonly channel: FrameChannel, readonly hello: HandshakeResult, private readonly deps: SessionDeps, private readonly hooks: SessionHooks) {
    const log = deps.log;
    this.sender = new LogSender(deps.source, channel, deps.clock, log, deps.sender, hooks, hello.cursor, hello.ownIncarnation);
    this.receiver = new ChangeReceiver(hello.peer, hello.peerIncarnation, deps.sink, channel, log, deps.receiveQueueBatchesMax, hooks.onOutcomes);
    this.heartbeat = new HeartbeatSender(deps.clock, deps.heartbeatMs, channel, () => ({ ...hooks.health(), queue: this.receiver.queued() }));
    this.rtt = new RttProbe(deps.clock, channel);
    channel.setFrameHandler((frame) => this.onFrame(frame));
  }

  start(): void {
    this.heartbeat.start();
    this.rtt.start();
    void this.sender.start();
  }

  stop(): void {
    this.heartbeat.stop();
    this.rtt.stop();
    this.sender.stop();
    this.receiver.stop();
  }

  private onFrame(frame: Frame): void {
    this.hooks.onHeard();
    switch (frame.t) {
      case 'changes':
        return this.receiver.push(frame);
      case 'ack':
        if (!this.sender.onAck(frame.seq)) this.channel.close(`ACK ${frame.seq} beyond what was sent`, 'protocol');
        return;
      case 'hb':
        return this.hooks.onHealth(frame);
      case 'ctl':
        if (frame.topic === RTT_TOPIC) {
          if (!this.rtt.onFrame(frame.body)) this.deps.log.debug({ topic: RTT_TOPIC }, 'malformed round-trip probe ignored');
          return;
        }
        this.deps.control.dispatch(this.hello.peer, frame.topic, frame.body, this.deps.log);
        return;
      case 'hello':
      case 'auth':
        return this.channel.close(`${frame.t} after the handshake`, 'protocol');
    }
  }
}
