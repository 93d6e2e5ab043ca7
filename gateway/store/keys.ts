/** Names of every Redis key the region's store uses, under one prefix. */
export class StoreKeys {
  constructor(readonly prefix: string) {}
  record(ks: string, key: string): string { return `${this.prefix}r:${ks}:${key}`; }
  digest(ks: string, partition: number): string { return `${this.prefix}mk:${ks}:${partition}`; }
  members(ks: string, partition: number, bucket: number): string { return `${this.prefix}mb:${ks}:${partition}:${bucket}`; }
  fence(ks: string, partition: number): string { return `${this.prefix}fence:${ks}:${partition}`; }
  pending(ks: string, key: string): string { return `${this.prefix}pend:${ks}:${key}`; }
  /** A write's remembered outcome, by its Idempotency-Key (lua/includes/idempotency.lua). */
  idempotency(idemKey: string): string { return `${this.prefix}idem:${idemKey}`; }
  /** The region's remembered outcomes by expiry (wall ms), to keep their number under the cap. */
  get idempotencyIndex(): string { return `${this.prefix}idemidx`; }
  get log(): string { return `${this.prefix}log`; }
  get seq(): string { return `${this.prefix}seq`; }
  get logBytes(): string { return `${this.prefix}logbytes`; }
  get hlc(): string { return `${this.prefix}hlc`; }
  get applied(): string { return `${this.prefix}applied`; }
  get pendingIndex(): string { return `${this.prefix}pendidx`; }
  get journal(): string { return `${this.prefix}conflicts`; }
  get incarnation(): string { return `${this.prefix}incarnation`; }
  /** This region's version-vector counter floor (see RegionStore.raiseCounterFloor). */
  get counterFloor(): string { return `${this.prefix}vvfloor`; }
  /** Wall ms of the raise that set the counter floor. */
  get counterFloorAt(): string { return `${this.prefix}vvfloor-at`; }
  /** A random id the gateway claims in its Redis, to notice when Redis lost its data. */
  get identity(): string { return `${this.prefix}store-id`; }
  get outbox(): string { return `${this.prefix}outbox`; }
  /** Durable needs-repair marks: peer → mark id (gateway/store/repair-marks.ts). */
  get repairMarks(): string { return `${this.prefix}repair-marks`; }
  /** Written by a gateway that stopped cleanly: `<log incarnation>|<log seq>` (RegionStore.markCleanStop). */
  get cleanStop(): string { return `${this.prefix}clean-stop`; }
}
