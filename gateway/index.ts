export { startGateway, createRedis, type RunningGateway, type GatewayOptions } from './gateway.js';
export { loadGatewayConfig, parseGatewayConfig, gatewayConfigSchema, type GatewayConfig, type KeyspaceConfig } from './config.js';
export { PartitionMap, hash32, type NodeListEntry } from './partition-map.js';
export { RegionStore, ConflictStore, StoreError, StoreErrorCode, StoreKeys, type StoredRecord, type WriteRequest, type WriteResult, type PendingVersion } from './store/index.js';
export { StaticAuthority, type Authority, type WriteAuthority } from './authority.js';
export * from './errors.js';
