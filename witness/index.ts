/** Public entry of the witness folder: the witness service, its client, and the region's ownership agent. */
export { OwnershipAgent, type AgentOptions } from './agent.js';
export type { AgentHooks, Authority, LinkState, Outbox, PeerClass } from './agent-types.js';
export { OwnershipRunner, type RunnerOptions } from './agent-runner.js';
export { registerRegionSettings, WitnessClient, type RegionSettings, type WitnessApi, type WitnessClientOptions } from './client.js';
export * from './config.js';
export * from './errors.js';
export * from './protocol.js';
export { buildTopology, defaultNodeList, partitionKey, WITNESS_VOTER, type KeyspaceSpec, type Topology } from './topology.js';
export { createWitness, createWitnessApp, runWitness, type WitnessStartOptions } from './server.js';
export { WitnessCore, type DurableState } from './witness-core.js';
export * from './shared-settings.js';
