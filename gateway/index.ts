export { startGateway, createRedis, type RunningGateway, type GatewayOptions } from './gateway.js';
export { loadGatewayConfig, parseGatewayConfig, gatewayConfigSchema, type GatewayConfig, type KeyspaceConfig } from './config.js';
export { PartitionMap, hash32, type NodeListEntry } from './partition-map.js';
export { RegionStore, StoreError, StoreErrorCode, StoreKeys, type StoredRecord, type WriteRequest, type WriteResult } from './store/index.js';
export { StaticAuthority, type Authority, type WriteAuthority } from './authority.js';
export * from './errors.js';
