/**
 * One direction of one relayed connection: a bounded queue of chunks, each released at its
 * scheduled time, in arrival order. The queue never holds more than `bufferBytesMax` bytes:
 * the part of a chunk that does not fit is pushed back into the source socket, which is paused
 * (TCP backpressure towards the sender) until the queue has drained to half.
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../clock.js';
import type { DirectionSettings } from './settings.js';
import { admitBytes, releaseAtMs, sliceBytesMax, transmitDoneMs } from './schedule.js';

export interface PipeCounters {
  bytesForwarded: number;
  bytesDropped: number;
  chunksForwarded: number;
  bytesQueuedPeak: number;
}

export interface PipeOptions {
  clock: Clock;
  random: () => number;
  bufferBytesMax: number;
  settings: () => DirectionSettings;
  counters: PipeCounters;
}

interface Entry {
  /** `null` marks the end of the stream (a FIN to pass on). */
  data: Buffer | null;
  releaseMs: number;
  sendAtMs?: number;
}

export class Pipe {
  private queue: Entry[] = [];
  private queuedBytesNow = 0;
  private lastReleaseMs = 0;
  private linkFreeMs = 0;
  private timer: TimerHandle | undefined;
  private waitingDrain = false;
  private sourcePaused = false;
  private closed = false;
  /** Bytes (or the end of the stream) were lost: the stream the far side sees has a hole. */
  damaged = false;

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly options: PipeOptions,
  ) {}

  get queuedBytes(): number {
    return this.queuedBytesNow;
  }

  onData(chunk: Buffer): void {
    if (this.closed) return;
    const settings = this.options.settings();
    if (settings.cut !== 'none') {
      this.drop(chunk.length);
      return;
    }
    const admitted = admitBytes(this.queuedBytesNow, chunk.length, this.options.bufferBytesMax);
    if (admitted < chunk.length) {
      this.pauseSource();
      this.source.unshift(chunk.subarray(admitted));
    }
    if (admitted > 0) this.enqueue(chunk.subarray(0, admitted), settings);
    if (this.queuedBytesNow >= this.options.bufferBytesMax) this.pauseSource();
    this.pump();
  }

  onEnd(): void {
    if (this.closed) return;
    const settings = this.options.settings();
    if (settings.cut !== 'none') {
      this.damaged = true;
      return;
    }
    this.queue.push({ data: null, releaseMs: this.nextReleaseMs(settings) });
    this.pump();
  }

  /** Drops everything queued (a blackhole swallowed it) and lets the source flow again. */
  dropQueued(): void {
    for (const entry of this.queue) {
      if (entry.data) this.drop(entry.data.length);
      else this.damaged = true;
    }
    this.queue = [];
    this.queuedBytesNow = 0;
    this.cancelTimer();
    this.resumeSourceIfLow();
  }

  /** Settings changed (unstall, new rate): release what is due. */
  kick(): void {
    this.cancelTimer();
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.cancelTimer();
    this.queue = [];
    this.queuedBytesNow = 0;
  }

  private enqueue(data: Buffer, settings: DirectionSettings): void {
    const releaseMs = this.nextReleaseMs(settings);
    const slice = sliceBytesMax(settings.bandwidthBytesPerSec);
    for (let offset = 0; offset < data.length; offset += slice) {
      this.queue.push({ data: data.subarray(offset, offset + slice), releaseMs });
    }
    this.queuedBytesNow += data.length;
    const counters = this.options.counters;
    if (this.queuedBytesNow > counters.bytesQueuedPeak) counters.bytesQueuedPeak = this.queuedBytesNow;
  }

  private nextReleaseMs(settings: DirectionSettings): number {
    this.lastReleaseMs = releaseAtMs({
      nowMs: this.options.clock.monoMs(),
      previousReleaseMs: this.lastReleaseMs,
      delayMs: settings.delayMs,
      jitterMs: settings.jitterMs,
      random: this.options.random,
    });
    return this.lastReleaseMs;
  }

  private pump(): void {
    if (this.timer || this.waitingDrain || this.closed) return;
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const settings = this.options.settings();
      if (settings.stall || settings.cut !== 'none') return;
      const nowMs = this.options.clock.monoMs();
      if (head.sendAtMs === undefined) head.sendAtMs = this.sendAtMs(head, settings);
      if (nowMs < head.sendAtMs) {
        this.timer = this.options.clock.setTimer(Math.ceil(head.sendAtMs - nowMs), () => {
          this.timer = undefined;
          this.pump();
        });
        return;
      }
      this.queue.shift();
      if (!this.release(head)) return;
    }
  }

  private sendAtMs(head: Entry, settings: DirectionSettings): number {
    if (!head.data) return head.releaseMs;
    const doneMs = transmitDoneMs({
      readyMs: head.releaseMs,
      linkFreeMs: this.linkFreeMs,
      bytes: head.data.length,
      bandwidthBytesPerSec: settings.bandwidthBytesPerSec,
    });
    if (settings.bandwidthBytesPerSec > 0) this.linkFreeMs = doneMs;
    return doneMs;
  }

  /** Writes one entry on; returns false when the destination asks us to wait for `drain`. */
  private release(entry: Entry): boolean {
    const counters = this.options.counters;
    if (!entry.data) {
      if (!this.dest.destroyed) this.dest.end();
      return true;
    }
    this.queuedBytesNow -= entry.data.length;
    this.resumeSourceIfLow();
    if (this.dest.destroyed || this.dest.writableEnded) {
      this.drop(entry.data.length);
      return true;
    }
    counters.bytesForwarded += entry.data.length;
    counters.chunksForwarded += 1;
    if (this.dest.write(entry.data)) return true;
    this.waitingDrain = true;
    this.dest.once('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    return false;
  }

  private drop(bytes: number): void {
    this.options.counters.bytesDropped += bytes;
    this.damaged = true;
  }

  private pauseSource(): void {
    if (this.sourcePaused) return;
    this.sourcePaused = true;
    this.source.pause();
  }

  private resumeSourceIfLow(): void {
    if (!this.sourcePaused || this.queuedBytesNow > this.options.bufferBytesMax / 2) return;
    this.sourcePaused = false;
    if (!this.source.destroyed) this.source.resume();
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
