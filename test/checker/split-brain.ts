/**
 * Split-brain on `fence` keyspaces, judged per partition (not per key): an acknowledgement
 * by one region after another region's acknowledgement at a higher epoch — the old owner
 * acknowledged after the new one did — or two regions acknowledging at the same epoch.
 *
 * The epoch of an acknowledgement: the op's own `epoch` when the response carried it (the
 * API does not return it today), else bounded from the witness's grants. A region can only
 * write under an epoch the witness granted it before the write completed, so the range of
 * an ack by R that completed at t is [the lowest, the highest] epoch granted to R at or
 * before t (epoch 0 belongs to the first grant's `fromOwner`). The rule fires only when the
 * later ack's highest possible epoch is below the earlier ack's lowest possible one: sound
 * (no false alarms from the bounds), possibly blind to a stale ack after a failback to the
 * same region.
 *
 * "After" is judged on the clients' completion times: `a` counts as after `b` when it
 * completed more than `ackOrderSlackMs` after `b` did. A response's own travel back to the
 * client is what the slack covers; the protocol leaves at least the drift margin (150 ms)
 * plus a grant round trip between the old lease's end and the new owner's first ack.
 */
import type { GrantRecord, Op } from './history.js';

export const DEFAULT_ACK_ORDER_SLACK_MS = 50;
/** Offending acks listed per partition in one violation. */
export const SPLIT_BRAIN_OPS_SHOWN_MAX = 8;

export interface SplitBrain {
  /** `keyspace.partition`, as `x-geogate-partition` names it. */
  readonly partition: string;
  readonly message: string;
  readonly ops: readonly Op[];
  /** How many acks came after a higher-epoch ack of another region. */
  readonly lateAcks: number;
}

interface EpochRange {
  lo: number;
  hi: number;
}

interface Ack {
  op: Op;
  region: string;
  doneMs: number;
  range: EpochRange | null;
}

/** `orders.2` → { keyspace: 'orders', partition: 2 }. */
export function parsePartitionName(name: string): { keyspace: string; partition: number } | null {
  const i = name.lastIndexOf('.');
  const n = Number(name.slice(i + 1));
  if (i <= 0 || !Number.isSafeInteger(n)) return null;
  return { keyspace: name.slice(0, i), partition: n };
}

function epochRange(op: Op, region: string, grants: readonly GrantRecord[]): EpochRange | null {
  if (op.epoch !== undefined) return { lo: op.epoch, hi: op.epoch };
  const doneMs = op.completeMs ?? Infinity;
  const epochs: number[] = [];
  const initialOwner = grants[0]?.fromOwner;
  if (initialOwner === undefined || initialOwner === region) epochs.push(0);
  for (const g of grants) if (g.toOwner === region && g.atMs <= doneMs) epochs.push(g.epoch);
  if (epochs.length === 0) return null; // a region that was never granted the partition acked a write
  return { lo: Math.min(...epochs), hi: Math.max(...epochs) };
}

export function checkSplitBrain(ops: readonly Op[], grants: readonly GrantRecord[], fenceKeyspaces: ReadonlySet<string>, ackOrderSlackMs = DEFAULT_ACK_ORDER_SLACK_MS): SplitBrain[] {
  const byPartition = new Map<string, Ack[]>();
  for (const op of ops) {
    if (op.kind === 'read' || op.status !== 'ok' || !op.partition || !fenceKeyspaces.has(op.keyspace)) continue;
    const list = byPartition.get(op.partition) ?? [];
    list.push({ op, region: op.ackRegion ?? op.region, doneMs: op.completeMs ?? Infinity, range: null });
    byPartition.set(op.partition, list);
  }
  const out: SplitBrain[] = [];
  for (const [name, acks] of [...byPartition].sort(([a], [b]) => a.localeCompare(b))) {
    const where = parsePartitionName(name);
    const mine = grants.filter((g) => where && g.keyspace === where.keyspace && g.partition === where.partition).sort((a, b) => a.epoch - b.epoch);
    for (const a of acks) a.range = epochRange(a.op, a.region, mine);
    const found = judgePartition(name, acks, ackOrderSlackMs);
    if (found) out.push(found);
  }
  return out;
}

/** Acks in completion order; for each, the highest lower bound of any other region's ack completed more than the slack before it. */
function judgePartition(name: string, acks: Ack[], slackMs: number): SplitBrain | null {
  const sorted = [...acks].sort((x, y) => x.doneMs - y.doneMs || x.op.id - y.op.id);
  const strongest = new Map<string, Ack>(); // region → its ack with the highest lower bound so far
  let j = 0;
  const late: { a: Ack; b: Ack }[] = [];
  const strangers: Ack[] = [];
  for (const a of sorted) {
    while (j < sorted.length && sorted[j]!.doneMs < a.doneMs - slackMs) {
      const b = sorted[j++]!;
      const best = strongest.get(b.region);
      if (b.range && (!best || b.range.lo > best.range!.lo)) strongest.set(b.region, b);
    }
    if (!a.range) {
      strangers.push(a);
      continue;
    }
    for (const [region, b] of strongest) {
      if (region === a.region) continue;
      const sameSingleEpoch = b.range!.lo === b.range!.hi && a.range.lo === a.range.hi && a.range.lo === b.range!.lo;
      if (a.range.hi < b.range!.lo || sameSingleEpoch) {
        late.push({ a, b });
        break;
      }
    }
  }
  if (strangers.length > 0) {
    return { partition: name, lateAcks: strangers.length, ops: strangers.slice(0, SPLIT_BRAIN_OPS_SHOWN_MAX).map((s) => s.op),
      message: `${strangers.length} write(s) acknowledged by a region the witness never granted ${name} (${[...new Set(strangers.map((s) => s.region))].join(', ')})` };
  }
  if (late.length === 0) return null;
  const first = late[0]!;
  const last = late[late.length - 1]!;
  const show = (x: Ack) => (x.range!.lo === x.range!.hi ? `epoch ${x.range!.lo}` : `epoch ${x.range!.lo}..${x.range!.hi}`);
  return {
    partition: name, lateAcks: late.length,
    ops: [first.b.op, ...late.slice(0, SPLIT_BRAIN_OPS_SHOWN_MAX).map((l) => l.a.op)],
    message: `${late.length} write(s) acknowledged by ${[...new Set(late.map((l) => l.a.region))].join(', ')} after ${first.b.region} acknowledged #${first.b.op.id} at ${show(first.b)}: `
      + `the first at ${show(first.a)} ${Math.round(first.a.doneMs - first.b.doneMs)} ms later, the last ${Math.round(last.a.doneMs - last.b.doneMs)} ms after #${last.b.op.id}`,
  };
}
