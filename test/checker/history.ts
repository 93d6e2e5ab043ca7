/**
 * A client history: every operation the workload ran, with its invocation and completion
 * times, the region it was sent to and the region that answered, and what it returned.
 *
 * `ok`      the gateway acknowledged (2xx; for reads also 404 = absent),
 * `fail`    the operation certainly had no effect (412, 307 not followed, 4xx, 503 codes that
 *           are answered before the store is touched),
 * `unknown` it may or may not have taken effect (timeout, connection error, other 5xx).
 */
export type OpKind = 'write' | 'cas' | 'delete' | 'read';
export type OpStatus = 'ok' | 'fail' | 'unknown';

export interface Op {
  readonly id: number;
  /** Client (logical process) that ran it; a client runs one op at a time. */
  readonly client: string;
  /** Region whose gateway the client sent it to first. */
  readonly region: string;
  readonly kind: OpKind;
  readonly keyspace: string;
  readonly key: string;
  /** Value written (unique per write); absent for deletes and reads. */
  readonly value?: string | undefined;
  /** If-Match sent with a CAS write. */
  readonly ifMatch?: string | undefined;
  readonly invokeMs: number;
  completeMs?: number | undefined;
  status?: OpStatus | undefined;
  /** Region whose gateway gave the final answer (after following a redirect). */
  ackRegion?: string | undefined;
  /** Version (ETag without quotes) returned by a write or a read; '' for a read of an absent key. */
  version?: string | undefined;
  /** Value a read returned (null: 404). */
  readValue?: string | null | undefined;
  /** Partition name from `x-geogate-partition`. */
  partition?: string | undefined;
  /** HTTP status or error text. */
  detail?: string | undefined;
  /**
   * Epoch the write was acknowledged under, when the response says so (`x-geogate-epoch`).
   * Today's API does not return it; the checker then bounds it from the witness's grants.
   */
  epoch?: number | undefined;
  /** The write's HLC stamp (`x-geogate-hlc`: `wallMs.logical`), when the response carries it. */
  hlc?: string | undefined;
}

/**
 * One ownership change as the witness logged it (`GET /v1/decisions` of the witness):
 * `toOwner` holds the partition from epoch `epoch` on; `atMs` is the witness's wall clock
 * when it planned the grant, before any region could learn (or write under) the epoch.
 */
export interface GrantRecord {
  readonly atMs: number;
  readonly keyspace: string;
  readonly partition: number;
  readonly fromOwner: string;
  readonly toOwner: string;
  readonly epoch: number;
}

/** One record as stored in a region at the end of a run (null: never written there). */
export interface FinalRecord {
  readonly version: string;
  readonly value: string;
  readonly tombstone: boolean;
}

/** A conflict-journal entry (fields of GET /v1/conflicts), from any region. */
export interface JournalEntry {
  readonly keyspace: string;
  readonly key: string;
  readonly type: string;
  readonly winner: string;
  readonly currentVersion: string;
  readonly incomingVersion: string;
  readonly region?: string | undefined;
  readonly currentEpoch?: string | undefined;
  readonly incomingEpoch?: string | undefined;
  /** Each side's value as UTF-8 text (the API returns the bytes in base64), undefined when the entry holds none. */
  readonly currentValue?: string | undefined;
  readonly incomingValue?: string | undefined;
  readonly currentTombstone?: boolean | undefined;
  readonly incomingTombstone?: boolean | undefined;
}

export const HISTORY_OPS_MAX = 200_000;

/** Appends operations; bounded (a run that tries to record more is a harness bug). */
export class History {
  readonly ops: Op[] = [];
  private nextId = 1;

  constructor(private readonly now: () => number = () => Date.now(), private readonly opsMax = HISTORY_OPS_MAX) {}

  invoke(fields: Omit<Op, 'id' | 'invokeMs'>): Op {
    if (this.ops.length >= this.opsMax) throw new Error(`history holds ${this.opsMax} operations (opsMax)`);
    const op: Op = { ...fields, id: this.nextId++, invokeMs: this.now() };
    this.ops.push(op);
    return op;
  }

  complete(op: Op, status: OpStatus, fields: Partial<Pick<Op, 'ackRegion' | 'version' | 'readValue' | 'partition' | 'detail' | 'epoch' | 'hlc'>> = {}): void {
    if (op.status !== undefined) throw new Error(`op ${op.id} completed twice`);
    Object.assign(op, fields);
    op.status = status;
    op.completeMs = this.now();
  }

  /** Ops never completed (the run stopped under them) count as unknown. */
  closeOpen(): void {
    for (const op of this.ops) if (op.status === undefined) this.complete(op, 'unknown', { detail: 'not completed' });
  }
}

/** One line per op, for failure reports. */
export function formatOp(op: Op, t0 = 0): string {
  const t = (ms: number | undefined) => (ms === undefined ? '…' : String(Math.round(ms - t0)));
  const what = op.kind === 'read' ? `read -> ${op.readValue === null ? '404' : JSON.stringify(op.readValue)}`
    : op.kind === 'delete' ? 'delete' : `${op.kind} ${JSON.stringify(op.value)}${op.ifMatch ? ` if-match ${op.ifMatch}` : ''}`;
  return `#${op.id} [${t(op.invokeMs)}..${t(op.completeMs)}ms] ${op.client}@${op.region}${op.ackRegion && op.ackRegion !== op.region ? `->${op.ackRegion}` : ''} `
    + `${op.keyspace}/${op.key} ${what} => ${op.status ?? 'open'}${op.version !== undefined ? ` v=${op.version || '-'}` : ''}`
    + `${op.partition ? ` p=${op.partition}` : ''}${op.epoch !== undefined ? ` e=${op.epoch}` : ''}${op.detail ? ` (${op.detail})` : ''}`;
}
