/**
 * With several instances per region the coordinator ships every instance's writes from the
 * region's log, so it must learn of the appends the other instances make. Each of them
 * PUBLISHes, after its write's reply, `<incarnation>:<seq>` on the region's channel (one
 * PUBLISH in flight at a time, at most one every APPEND_SIGNAL_GAP_MS: appends meanwhile
 * are one message naming the highest seq); the coordinator's role subscribes on a connection
 * of its own and wakes its senders at once. A message can be lost (the subscriber
 * reconnecting, the publisher's connection down), so the coordinator still reads the log's
 * head and incarnation, every HEAD_SAFETY_POLL_MS instead of every 10 ms. A message that
 * names another incarnation than the one the coordinator ships under (another instance found
 * the store rolled back or lost and renewed it) makes it read the head and incarnation at
 * once, as the poll does.
 */
import type { Redis } from 'ioredis';
import type { Clock, TimerHandle } from '../../infra/clock.js';
import type { Logger } from 'pino';

/** At most one append message per this, per instance (the appends meanwhile go out as one). */
export const APPEND_SIGNAL_GAP_MS = 5;
/** The coordinator's read of the log's head and incarnation when no message came (lost messages, incarnations). */
export const HEAD_SAFETY_POLL_MS = 100;

/** The region's channel of append messages (under the key prefix, like every key of the region). */
export function appendChannel(keyPrefix: string): string {
  return `${keyPrefix}log:appended`;
}

/** `<incarnation>:<seq>` (incarnation '' when the writer does not know it); null when malformed. */
export function parseAppend(message: string): { incarnation: string; seq: number } | null {
  const cut = message.lastIndexOf(':');
  if (cut < 0) return null;
  const seq = Number(message.slice(cut + 1));
  return Number.isSafeInteger(seq) && seq > 0 ? { incarnation: message.slice(0, cut), seq } : null;
}

/** An instance that is not the coordinator: tells it of its appends. Holds one seq: bounded. */
export class AppendPublisher {
  /** The highest seq appended here, and the highest one a message named. */
  private pending = 0;
  private published = 0;
  private inFlight = false;
  private timer: TimerHandle | null = null;
  private lastMs = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(private readonly redis: Pick<Redis, 'publish'>, private readonly channel: string, private readonly clock: Clock,
    private readonly incarnation: () => string | undefined, private readonly log: Logger, private readonly gapMs = APPEND_SIGNAL_GAP_MS) {}

  /** A write of this instance was appended to the log at `seq` (after its reply). */
  appended(seq: number): void {
    if (seq > this.pending) this.pending = seq;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped || this.inFlight || this.timer || this.pending <= this.published) return;
    const wait = this.lastMs + this.gapMs - this.clock.monoMs();
    if (wait > 0) this.timer = this.clock.setTimer(wait, () => { this.timer = null; this.flush(); });
    else this.flush();
  }

  private flush(): void {
    if (this.stopped || this.pending <= this.published) return;
    const seq = this.pending;
    this.inFlight = true;
    this.lastMs = this.clock.monoMs();
    this.redis.publish(this.channel, `${this.incarnation() ?? ''}:${seq}`).then(
      () => { if (seq > this.published) this.published = seq; },
      (err: Error) => {
        // the coordinator's safety poll finds the append; the next one is published again
        this.published = Math.max(this.published, seq);
        this.log.debug({ err: err.message }, 'append message not published (the coordinator\'s head poll finds the write)');
      },
    ).finally(() => { this.inFlight = false; this.schedule(); });
  }
}

/** What the watch reads of the store. */
export interface HeadWatchStore {
  logHeadAndIncarnation(): Promise<{ head: number; incarnation: string | null }>;
}

export interface HeadWatchDeps {
  /** The store's log head and incarnation (the poll). */
  readonly store: HeadWatchStore;
  /** The incarnation the coordinator's senders ship under (undefined: not known yet). */
  readonly shipping: () => string | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  /** A new head of the log (another instance's writes to ship). */
  readonly onHead: (seq: number) => void;
  /** The log's incarnation in Redis is not the one shipped. */
  readonly onRenewedElsewhere: (why: string) => void;
  /** A subscriber connection of its own (the append messages); none: the poll alone. */
  readonly subscriber?: Pick<Redis, 'subscribe' | 'on' | 'off' | 'disconnect' | 'status'>;
  readonly channel?: string;
  readonly pollMs?: number;
}

/**
 * The coordinator's watch of the log's head: the append messages of the other instances, and
 * a read of the head and incarnation every `pollMs` (one read in flight; a read asked for
 * meanwhile runs once after it).
 */
export class LogHeadWatch {
  private last = -1;
  private timer: TimerHandle | null = null;
  private running = false;
  private reading = false;
  private readAgain = false;
  private readonly onMessage = (channel: string, message: string) => { if (channel === this.d.channel) this.message(message); };
  private readonly onReady = () => this.subscribe();

  constructor(private readonly d: HeadWatchDeps) {}

  start(): void {
    this.running = true;
    const sub = this.d.subscriber;
    if (sub) {
      sub.on('message', this.onMessage);
      sub.on('ready', this.onReady);
      if (sub.status === 'ready') this.subscribe();
    }
    void this.round();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    const sub = this.d.subscriber;
    if (sub) {
      sub.off('message', this.onMessage);
      sub.off('ready', this.onReady);
      sub.disconnect();
    }
  }

  private subscribe(): void {
    if (!this.running || !this.d.subscriber || !this.d.channel) return;
    this.d.subscriber.subscribe(this.d.channel).catch((err: Error) =>
      this.d.log.warn({ err: err.message, channel: this.d.channel }, 'append messages not subscribed (again at the next connect): the other instances\' writes ship at the head poll meanwhile'));
  }

  private message(text: string): void {
    if (!this.running) return;
    const m = parseAppend(text);
    if (!m) return;
    const shipped = this.d.shipping();
    // another incarnation than the one shipped: read Redis's (as the poll does) before any head of it
    if (m.incarnation !== '' && shipped !== undefined && m.incarnation !== shipped) return void this.read();
    if (this.last >= 0 && m.seq > this.last) {
      this.last = m.seq;
      this.d.onHead(m.seq);
    }
  }

  private async round(): Promise<void> {
    if (!this.running) return;
    await this.read();
    if (this.running) this.timer = this.d.clock.setTimer(this.d.pollMs ?? HEAD_SAFETY_POLL_MS, () => void this.round());
  }

  private async read(): Promise<void> {
    if (this.reading) { this.readAgain = true; return; }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        try {
          const before = this.d.shipping();
          const { head, incarnation } = await this.d.store.logHeadAndIncarnation();
          if (!this.running) return;
          if (before !== undefined && incarnation !== null && incarnation !== before && this.d.shipping() === before) {
            this.last = -1;
            this.d.onRenewedElsewhere(`the log's incarnation in Redis (${incarnation}) is not the one shipped (${before}): another instance found the store rolled back or lost`);
          }
          if (head > this.last) { if (this.last >= 0) this.d.onHead(head); this.last = head; }
        } catch { /* Redis away: the sender's slow poll and the next round */ }
      } while (this.readAgain && this.running);
    } finally {
      this.reading = false;
    }
  }
}
