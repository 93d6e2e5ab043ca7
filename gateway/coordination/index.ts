/** Several gateway instances per region: the coordinator election and its lease in Redis. */
export * from './election.js';
export { RedisLeaseStore } from './lease-store.js';
