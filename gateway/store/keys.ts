/**
 * Names of every Redis key the region's store uses, under one prefix: the one key layout.
 *
 * Every key of one partition carries the partition's hash tag, `<prefix>{<keyspace>.<p>}`, so
 * a partition lives in one Redis Cluster slot and a script that touches one partition's keys
 * touches one slot. Region-wide keys (no tag) are listed in `REGION_WIDE_KEYS`; the structural
 * test (test/integration/key-slots.test.ts) checks every script's KEYS against a real Redis
 * Cluster. The region-wide keys still on the per-write path (`PER_WRITE_REGION_WIDE`: the
 * log, its seq and byte count, the identity, the idempotency outcomes and index, the pending
 * index, the journal and outbox) move per partition with the per-partition log
 * (docs/design-notes.md, "The per-partition layout").
 *
 * The layout's version is written once in the store (`layout`); a store holding another
 * layout is refused at boot (RegionStore.checkLayout).
 */
export const STORE_LAYOUT = 'partition-tag-1';

/** Where a key of a keyspace lives: its partition (the hash tag of its keys). */
export type PartitionOf = (keyspace: string, key: string) => number;

export class StoreKeys {
  constructor(readonly prefix: string, private readonly partitionOf: PartitionOf) {
    if (/[{}]/.test(prefix)) throw new Error(`key prefix ${JSON.stringify(prefix)}: '{' and '}' are reserved for the partitions' hash tags`);
  }

  /** The partition of a key (the gateway's partition map). */
  partition(ks: string, key: string): number {
    const p = this.partitionOf(ks, key);
    if (!Number.isInteger(p) || p < 0) throw new Error(`no partition for ${ks}/${key}: ${p}`);
    return p;
  }

  /** `<prefix>{<ks>.<p>}`: the start of every key of the partition. */
  tag(ks: string, partition: number): string { return `${this.prefix}{${ks}.${partition}}`; }

  record(ks: string, key: string): string { return this.recordIn(ks, this.partition(ks, key), key); }
  recordIn(ks: string, partition: number, key: string): string { return `${this.tag(ks, partition)}r:${key}`; }
  digest(ks: string, partition: number): string { return `${this.tag(ks, partition)}mk`; }
  members(ks: string, partition: number, bucket: number): string { return `${this.tag(ks, partition)}mb:${bucket}`; }
  fence(ks: string, partition: number): string { return `${this.tag(ks, partition)}fence`; }
  pending(ks: string, key: string): string { return this.pendingIn(ks, this.partition(ks, key), key); }
  pendingIn(ks: string, partition: number, key: string): string { return `${this.tag(ks, partition)}pend:${key}`; }
  /** The partition's keys with pending conflicts (a set of keys). */
  partitionPending(ks: string, partition: number): string { return `${this.tag(ks, partition)}pendp`; }
  /** The partition's expiry index: key -> expiry wall ms (lua/includes/expiry.lua). */
  expiry(ks: string, partition: number): string { return `${this.tag(ks, partition)}exp`; }
  /**
   * The partition's hybrid logical clock (the last stamp it handed out or saw): lww compares
   * the stamps of one key, which lives in one partition, so a clock per partition is enough.
   */
  hlc(ks: string, partition: number): string { return `${this.tag(ks, partition)}hlc`; }
  /** What this region applied of each origin's log in the partition: "origin|incarnation" → seq (dedupe of a batch split per partition). */
  appliedIn(ks: string, partition: number): string { return `${this.tag(ks, partition)}applied`; }

  /**
   * A write's remembered outcome, by its Idempotency-Key (lua/includes/idempotency.lua):
   * region-wide, so a key reused for a write of another key (in any partition) is refused.
   */
  idempotency(idemKey: string): string { return `${this.prefix}idem:${idemKey}`; }
  /** The region's remembered outcomes by expiry (wall ms), to keep their number under the cap. */
  get idempotencyIndex(): string { return `${this.prefix}idemidx`; }
  /** Outcomes of peers' writes not remembered (the cap): a count. */
  get idempotencyUnremembered(): string { return `${this.prefix}idemunremembered`; }
  get log(): string { return `${this.prefix}log`; }
  get seq(): string { return `${this.prefix}seq`; }
  get logBytes(): string { return `${this.prefix}logbytes`; }
  /** The resume cursor per origin: "origin|incarnation" → seq, written once a whole batch is applied. */
  get applied(): string { return `${this.prefix}applied`; }
  get pendingIndex(): string { return `${this.prefix}pendidx`; }
  get journal(): string { return `${this.prefix}conflicts`; }
  get journalBytes(): string { return `${this.prefix}conflicts:bytes`; }
  get journalAcked(): string { return `${this.prefix}conflicts:acked`; }
  get incarnation(): string { return `${this.prefix}incarnation`; }
  /** This region's version-vector counter floor (see RegionStore.raiseCounterFloor). */
  get counterFloor(): string { return `${this.prefix}vvfloor`; }
  /** Wall ms of the raise that set the counter floor. */
  get counterFloorAt(): string { return `${this.prefix}vvfloor-at`; }
  /** A random id the gateway claims in its Redis, to notice when Redis lost its data. */
  get identity(): string { return `${this.prefix}store-id`; }
  /** The key layout the store holds (STORE_LAYOUT), written with the first identity. */
  get layout(): string { return `${this.prefix}layout`; }
  get outbox(): string { return `${this.prefix}outbox`; }
  get deadLetters(): string { return `${this.prefix}outbox:dead`; }
  /** Durable needs-repair marks: peer → mark id (gateway/store/repair-marks.ts). */
  get repairMarks(): string { return `${this.prefix}repair-marks`; }
  /** Written by a gateway that stopped cleanly: `<log incarnation>|<log seq>` (RegionStore.markCleanStop). */
  get cleanStop(): string { return `${this.prefix}clean-stop`; }
  /** The region's coordinator lease: hash holder, token, url; expires (gateway/coordination/). */
  get coordinator(): string { return `${this.prefix}coordinator`; }
  /** The coordinator tokens handed out (raised at every takeover). */
  get coordinatorTokens(): string { return `${this.prefix}coordinator-tokens`; }
  /** The region's instances: id → "<url>|<last claim, Redis ms>" (lua/claimCoordinator-3.lua). */
  get instances(): string { return `${this.prefix}instances`; }
  /**
   * The coordinator's board for the other instances (lua/publishBoard-4.lua): its head (id,
   * version, end, the last renewal round's lease end, seq floor, peers' acks), the partitions'
   * authority entries, the list of recent changes to those.
   */
  get coordinatorBoard(): string { return `${this.prefix}board`; }
  get coordinatorBoardParts(): string { return `${this.prefix}board:parts`; }
  get coordinatorBoardChanges(): string { return `${this.prefix}board:changes`; }
}

/**
 * The region-wide keys that a per-write, per-apply or per-resolution script still touches:
 * they move per partition with the per-partition log (stage 2 of the layout). The structural
 * test checks that these, and only these, are outside the partition's slot.
 */
/**
 * Region-wide keys of the coordinator of several instances per region (gateway/coordination/):
 * its lease, read by the scripts that change shared state for it; its token counter, instance
 * list and board. In a Redis Cluster the lease check needs a copy in each partition's slot
 * (docs/design-notes.md, "Several instances per region").
 */
export const COORDINATION_REGION_WIDE = ['coordinator', 'lease', 'tokens', 'instances', 'board', 'boardParts', 'boardChanges'] as const;

export const PER_WRITE_REGION_WIDE = ['log', 'seq', 'logBytes', 'identity', 'idempotency', 'idempotencyIndex', 'idempotencyUnremembered',
  'applied', 'pendingIndex', 'journal', 'journalBytes', 'journalAcked', 'outbox', 'incarnation', 'deadLetters'] as const;
