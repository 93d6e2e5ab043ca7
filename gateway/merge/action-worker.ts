/**
 * Performs the compensating actions triggers request (webhook POSTs). The resolution script
 * put them in a durable outbox stream in the same call that wrote the resolution, so an
 * action is never lost to a crash; this worker delivers each at least once with the action's
 * deterministic id as `Idempotency-Key` (exactly-once effect at a receiver that honours it),
 * with bounded attempts and backoff, then removes it. After the last attempt it is moved to a
 * dead-letter stream (bounded; an operator reads and acknowledges it) and logged — never
 * dropped silently: what a bound drops is counted (geogate_evicted_total) and logged.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../../infra/clock.js';
import { WorkerLoop } from './loop.js';
import { evictionsCounter } from '../metrics.js';
import type { ConflictStore } from '../store/index.js';

export const ACTION_ATTEMPTS_MAX = 5;
export const ACTION_TIMEOUT_MS = 3000;
export const ACTION_BACKOFF_MS = [200, 1000, 3000, 10_000];
export const ACTIONS_PER_ROUND_MAX = 16;
export const DEFAULT_ACTION_POLL_MS = 500;

interface ParsedAction { id: string; kind: string; url: string; body: unknown }

export class ActionWorker {
  private readonly attempts = new Map<string, { count: number; notBefore: number }>();
  private readonly delivered: Counter<'outcome'>;
  private readonly evicted: Counter<'stream'>;
  private readonly loop: WorkerLoop;

  constructor(
    private readonly conflicts: ConflictStore,
    private readonly deps: { clock: Clock; log: Logger; registry: Registry; fetch?: typeof fetch; outboxMaxAgeMs?: number },
    pollMs = DEFAULT_ACTION_POLL_MS,
  ) {
    this.delivered = new Counter({ name: 'geogate_compensation_actions_total', help: 'Compensating actions by outcome', labelNames: ['outcome'], registers: [deps.registry] });
    this.evicted = evictionsCounter(deps.registry);
    this.loop = new WorkerLoop(deps.clock, pollMs, () => this.round());
  }

  start(): void {
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  private async round(): Promise<void> {
    let rows: [string, string][];
    let redisNowMs: number | undefined;
    try {
      rows = await this.conflicts.readOutbox(ACTIONS_PER_ROUND_MAX);
      if (rows.length > 0 && this.deps.outboxMaxAgeMs !== undefined) redisNowMs = await this.conflicts.redisNowMs();
    } catch {
      return; // store down: the next round retries
    }
    try {
      for (const [entryId, json] of rows) await this.deliver(entryId, json, redisNowMs);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'compensating action round failed (store down?); retrying');
    }
  }

  private async deliver(entryId: string, json: string, redisNowMs: number | undefined): Promise<void> {
    const now = this.deps.clock.monoMs();
    const state = this.attempts.get(entryId) ?? { count: 0, notBefore: 0 };
    // the outbox's age bound (conflicts.outboxMaxAgeMs): an action still undelivered after it
    // goes to the dead letters, where an operator sees it; the entry id is the time it was
    // queued, on Redis's clock, and so is `redisNowMs`
    const maxAge = this.deps.outboxMaxAgeMs;
    const queuedMs = Number(entryId.split('-')[0]);
    if (maxAge !== undefined && redisNowMs !== undefined && Number.isFinite(queuedMs) && redisNowMs - queuedMs > maxAge) {
      this.delivered.inc({ outcome: 'expired' });
      await this.deadLetter(entryId, json, `undelivered for longer than conflicts.outboxMaxAgeMs (${maxAge} ms)${state.count > 0 ? ` after ${state.count} attempts` : ''}`);
      return;
    }
    if (state.notBefore > now) return;
    let action: ParsedAction;
    try {
      action = JSON.parse(json) as ParsedAction;
      if (action.kind !== 'webhook' || typeof action.url !== 'string') throw new Error(`unsupported action kind ${String(action.kind)}`);
    } catch (err) {
      await this.deadLetter(entryId, json, `unreadable action: ${(err as Error).message}`);
      return;
    }
    const error = await this.post(action);
    if (error === null) {
      await this.conflicts.ackOutbox(entryId);
      this.attempts.delete(entryId);
      this.delivered.inc({ outcome: 'delivered' });
      this.deps.log.info({ actionId: action.id, url: action.url, attempts: state.count + 1 }, 'compensating action delivered');
      return;
    }
    state.count++;
    this.delivered.inc({ outcome: 'retry' });
    if (state.count >= ACTION_ATTEMPTS_MAX) {
      await this.deadLetter(entryId, json, error);
      return;
    }
    state.notBefore = now + (ACTION_BACKOFF_MS[state.count - 1] ?? ACTION_BACKOFF_MS.at(-1)!);
    this.attempts.set(entryId, state);
    this.deps.log.warn({ actionId: action.id, url: action.url, attempt: state.count, error }, 'compensating action failed; will retry');
  }

  private async post(action: ParsedAction): Promise<string | null> {
    const f = this.deps.fetch ?? fetch;
    try {
      const res = await f(action.url, {
        method: 'POST', body: JSON.stringify(action.body),
        headers: { 'content-type': 'application/json', 'idempotency-key': action.id },
        signal: AbortSignal.timeout(ACTION_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? null : `HTTP ${res.status}`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async deadLetter(entryId: string, json: string, reason: string): Promise<void> {
    const dropped = await this.conflicts.deadLetterOutbox(entryId, json, reason);
    this.attempts.delete(entryId);
    if (dropped > 0) {
      this.evicted.inc({ stream: 'dead-letter' }, dropped);
      this.deps.log.error({ dropped }, 'dead-letter stream full: oldest dead letters dropped (read and acknowledge them: GET/POST /v1/conflicts/dead-letters)');
    }
    this.delivered.inc({ outcome: 'dead-letter' });
    this.deps.log.error({ entryId, action: json.slice(0, 500), reason }, 'compensating action given up after bounded attempts; kept in the dead-letter stream');
  }
}
