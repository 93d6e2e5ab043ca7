/**
 * Negative return codes of the store's Lua scripts, mirrored here, and the typed errors they
 * become. Keep in step with the contract comments in lua/*.lua.
 */
export enum StoreErrorCode {
  IfMatchFailed = -1,
  IfNoneMatchFailed = -2,
  Fenced = -3,
  NotFound = -4,
  VersionChanged = -5,
  PendingGone = -6,
  StoreReset = -7,
  IdempotencyFull = -8,
  IdempotencyKeyReused = -9,
  NotACounter = -10,
  /** The caller's coordinator token is not the lease's (it lost the region's coordinator lease). */
  NotCoordinator = -11,
}

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(readonly code: StoreErrorCode, message: string) {
    super(message);
  }
}

export function storeError(code: number, context: string): StoreError {
  switch (code) {
    case StoreErrorCode.IfMatchFailed: return new StoreError(code, `${context}: If-Match does not match the current version`);
    case StoreErrorCode.IfNoneMatchFailed: return new StoreError(code, `${context}: key exists (If-None-Match: *)`);
    case StoreErrorCode.Fenced: return new StoreError(code, `${context}: no fence for this epoch (lease expired or moved)`);
    case StoreErrorCode.NotFound: return new StoreError(code, `${context}: no such key`);
    case StoreErrorCode.VersionChanged: return new StoreError(code, `${context}: record changed during resolution`);
    case StoreErrorCode.PendingGone: return new StoreError(code, `${context}: conflict already resolved`);
    case StoreErrorCode.StoreReset: return new StoreError(code, `${context}: the region's Redis lost its data (restarted empty?) or came back with older data (a failover to a replica that missed writes?); the gateway is recovering`);
    case StoreErrorCode.IdempotencyFull: return new StoreError(code, `${context}: this region remembers as many write outcomes as it may (idempotency.entriesMax)`);
    case StoreErrorCode.IdempotencyKeyReused: return new StoreError(code, `${context}: the Idempotency-Key was used by another request`);
    case StoreErrorCode.NotACounter: return new StoreError(code, `${context}: the value is not a PN-counter ({"p":{region:n},"n":{region:n}}) or a count would pass 2^53`);
    case StoreErrorCode.NotCoordinator: return new StoreError(code, `${context}: refused, this instance does not hold the region's coordinator lease (another instance took over)`);
    default: throw new Error(`unknown store error code ${code} (${context})`);
  }
}

/** The store holds keys of another key layout (keys.ts STORE_LAYOUT): the gateway does not start on it. */
export class StoreLayoutError extends Error {
  override name = 'StoreLayoutError';
}
