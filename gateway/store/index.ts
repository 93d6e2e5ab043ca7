export { RegionStore, AppliedFrontier, isReadable, isExpired, type BoardPublication, type BoardRead, type RegionStoreOptions, type WriteRequest, type WriteResult, type IdempotencyRequest, type StoredRecord } from './region-store.js';
export { StoreError, StoreErrorCode, StoreLayoutError } from './errors.js';
export { StoreKeys, STORE_LAYOUT, type PartitionOf } from './keys.js';
export { ConflictStore, type PendingVersion, type ResolutionWrite, type JournalEntry, type RetentionBounds } from './conflict-store.js';
