/**
 * The WAN emulator: a TCP relay placed on a cross-region link. Tests and operators shape it
 * (delay, jitter, bandwidth, stall) and break it (blackhole or reset, one way or both) while
 * it runs, then heal it.
 */
import net from 'node:net';
import { realClock, seededRandom, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { Pipe, type PipeCounters } from './pipe.js';
import {
  applyPatch, DEFAULT_DIRECTION_SETTINGS, DIRECTIONS, parseSettingsPatch, selectDirections,
  type CutMode, type Direction, type DirectionSelector, type DirectionSettings, type DirectionSettingsPatch,
} from './settings.js';

export const DEFAULT_BUFFER_BYTES_MAX = 1024 * 1024;
export const DEFAULT_CONNECTIONS_MAX = 256;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_JITTER_SEED = 1;

export interface HostPort {
  host: string;
  port: number;
}

export interface WanRelayOptions {
  listen: HostPort;
  target: HostPort;
  /** Queued bytes per connection and direction before the sender is paused. */
  bufferBytesMax?: number;
  connectionsMax?: number;
  connectTimeoutMs?: number;
  clock?: Clock;
  /** Source of jitter; defaults to a PRNG seeded with `seed`. */
  random?: () => number;
  seed?: number;
  initial?: Partial<Record<Direction, DirectionSettingsPatch>>;
  log?: Logger;
}

export interface DirectionStats extends PipeCounters {
  /** Bytes queued now, summed over connections. */
  bytesQueued: number;
}

export interface WanStats {
  ab: DirectionStats;
  ba: DirectionStats;
  connections: { accepted: number; active: number; refused: number; reset: number; dialFailed: number };
}

export interface WanState {
  listen: HostPort;
  target: HostPort;
  bufferBytesMax: number;
  settings: Record<Direction, DirectionSettings>;
  stats: WanStats;
}

export interface HealOptions {
  /** Keep connections that lost bytes in a blackhole (default: reset them, as TCP would never deliver a stream with a hole). */
  keepDamaged?: boolean;
}

interface Connection {
  id: number;
  client: net.Socket;
  target: net.Socket | undefined;
  pipes: Partial<Record<Direction, Pipe>>;
  /** Accepted while cut: bytes were dropped and the target never dialled. */
  held: boolean;
}

function newCounters(): PipeCounters {
  return { bytesForwarded: 0, bytesDropped: 0, chunksForwarded: 0, bytesQueuedPeak: 0 };
}

function resetSocket(socket: net.Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export class WanRelay {
  private readonly server: net.Server;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly bufferBytesMax: number;
  private readonly connectionsMax: number;
  private readonly connectTimeoutMs: number;
  private current: Record<Direction, DirectionSettings>;
  private readonly counters: Record<Direction, PipeCounters> = { ab: newCounters(), ba: newCounters() };
  private readonly connectionCounts = { accepted: 0, refused: 0, reset: 0, dialFailed: 0 };
  private readonly connections = new Map<number, Connection>();
  private nextId = 1;
  private boundPort = 0;

  constructor(private readonly options: WanRelayOptions) {
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? seededRandom(options.seed ?? DEFAULT_JITTER_SEED);
    this.log = options.log ?? silentLogger();
    this.bufferBytesMax = options.bufferBytesMax ?? DEFAULT_BUFFER_BYTES_MAX;
    this.connectionsMax = options.connectionsMax ?? DEFAULT_CONNECTIONS_MAX;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!Number.isInteger(this.bufferBytesMax) || this.bufferBytesMax < 1) throw new RangeError('bufferBytesMax must be an integer >= 1');
    this.current = {
      ab: applyPatch(DEFAULT_DIRECTION_SETTINGS, parseSettingsPatch(options.initial?.ab ?? {})),
      ba: applyPatch(DEFAULT_DIRECTION_SETTINGS, parseSettingsPatch(options.initial?.ba ?? {})),
    };
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.log.error({ err }, 'wan relay listener error'));
  }

  start(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        this.boundPort = typeof address === 'object' && address ? address.port : this.options.listen.port;
        this.log.info({ listen: this.options.listen.host, port: this.boundPort, target: this.options.target }, 'wan relay listening');
        resolve({ host: this.options.listen.host, port: this.boundPort });
      });
    });
  }

  /** Changes settings of one direction or both; unknown or out-of-range fields throw `WanSettingsError`. */
  set(direction: DirectionSelector, patch: DirectionSettingsPatch): WanState {
    const parsed = parseSettingsPatch(patch);
    for (const d of selectDirections(direction)) this.current[d] = applyPatch(this.current[d], parsed);
    this.applyEffects();
    return this.state();
  }

  cut(direction: DirectionSelector, mode: CutMode): WanState {
    return this.set(direction, { cut: mode });
  }

  /** Removes cuts and stalls in both directions (delay, jitter and bandwidth stay). */
  heal(options: HealOptions = {}): WanState {
    for (const d of DIRECTIONS) this.current[d] = { ...this.current[d], cut: 'none', stall: false };
    if (!options.keepDamaged) {
      for (const c of this.connections.values()) {
        if (c.held || c.pipes.ab?.damaged || c.pipes.ba?.damaged) this.destroy(c, true);
      }
    }
    this.applyEffects();
    return this.state();
  }

  settings(): Record<Direction, DirectionSettings> {
    return { ab: { ...this.current.ab }, ba: { ...this.current.ba } };
  }

  stats(): WanStats {
    const queued = { ab: 0, ba: 0 };
    for (const c of this.connections.values()) {
      for (const d of DIRECTIONS) queued[d] += c.pipes[d]?.queuedBytes ?? 0;
    }
    return {
      ab: { ...this.counters.ab, bytesQueued: queued.ab },
      ba: { ...this.counters.ba, bytesQueued: queued.ba },
      connections: { ...this.connectionCounts, active: this.connections.size },
    };
  }

  state(): WanState {
    return {
      listen: { host: this.options.listen.host, port: this.boundPort },
      target: { ...this.options.target },
      bufferBytesMax: this.bufferBytesMax,
      settings: this.settings(),
      stats: this.stats(),
    };
  }

  async close(): Promise<void> {
    for (const c of this.connections.values()) this.destroy(c, false);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private isCut(mode: CutMode): boolean {
    return this.current.ab.cut === mode || this.current.ba.cut === mode;
  }

  private applyEffects(): void {
    if (this.isCut('reset')) {
      for (const c of this.connections.values()) this.destroy(c, true);
      return;
    }
    for (const c of this.connections.values()) {
      for (const d of DIRECTIONS) {
        const pipe = c.pipes[d];
        if (!pipe) continue;
        if (this.current[d].cut === 'blackhole') pipe.dropQueued();
        pipe.kick();
      }
    }
  }

  private accept(client: net.Socket): void {
    if (this.isCut('reset') || this.connections.size >= this.connectionsMax) {
      this.connectionCounts.refused += 1;
      resetSocket(client);
      return;
    }
    this.connectionCounts.accepted += 1;
    const c: Connection = { id: this.nextId++, client, target: undefined, pipes: {}, held: false };
    this.connections.set(c.id, c);
    client.on('error', (err) => this.log.debug({ err, connection: c.id }, 'client socket error'));
    client.on('close', () => this.onSocketClose(c, 'client'));
    if (this.isCut('blackhole')) {
      // The SYN is lost: nothing is dialled, the client's bytes vanish.
      c.held = true;
      client.on('data', (chunk: Buffer) => { this.counters.ab.bytesDropped += chunk.length; });
      return;
    }
    this.dial(c);
  }

  private dial(c: Connection): void {
    const target = net.connect({ host: this.options.target.host, port: this.options.target.port, allowHalfOpen: true });
    c.target = target;
    const timeout = this.clock.setTimer(this.connectTimeoutMs, () => {
      if (target.connecting) target.destroy(new Error('connect timeout'));
    });
    let connected = false;
    target.once('connect', () => {
      connected = true;
      timeout.cancel();
    });
    target.on('error', (err) => {
      if (!connected) this.connectionCounts.dialFailed += 1;
      this.log.debug({ err, connection: c.id }, 'target socket error');
    });
    target.on('close', () => {
      timeout.cancel();
      this.onSocketClose(c, 'target');
    });
    const pipeOptions = (d: Direction) => ({
      clock: this.clock,
      random: this.random,
      bufferBytesMax: this.bufferBytesMax,
      settings: () => this.current[d],
      counters: this.counters[d],
    });
    const ab = new Pipe(c.client, target, pipeOptions('ab'));
    const ba = new Pipe(target, c.client, pipeOptions('ba'));
    c.pipes = { ab, ba };
    c.client.on('data', (chunk: Buffer) => ab.onData(chunk));
    c.client.on('end', () => ab.onEnd());
    target.on('data', (chunk: Buffer) => ba.onData(chunk));
    target.on('end', () => ba.onEnd());
  }

  private onSocketClose(c: Connection, side: 'client' | 'target'): void {
    const other = side === 'client' ? c.target : c.client;
    if (!other || other.destroyed) {
      this.forget(c);
      return;
    }
    // A close the far side must not hear about: the direction towards it is blackholed.
    const towardsOther: Direction = side === 'client' ? 'ab' : 'ba';
    if (this.current[towardsOther].cut === 'blackhole') {
      c.pipes[towardsOther]?.dropQueued();
      if (c.pipes[towardsOther]) c.pipes[towardsOther].damaged = true;
      return;
    }
    // Graceful ends travel through the pipe as a FIN; anything else tears the other side down.
    const ended = side === 'client' ? c.client.readableEnded : c.target?.readableEnded;
    if (!ended) other.destroy();
  }

  private destroy(c: Connection, reset: boolean): void {
    if (reset) this.connectionCounts.reset += 1;
    c.pipes.ab?.close();
    c.pipes.ba?.close();
    if (reset) {
      resetSocket(c.client);
      resetSocket(c.target);
    } else {
      c.client.destroy();
      c.target?.destroy();
    }
    this.forget(c);
  }

  private forget(c: Connection): void {
    c.pipes.ab?.close();
    c.pipes.ba?.close();
    this.connections.delete(c.id);
  }
}
