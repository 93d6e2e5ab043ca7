/**
 * Container harness for multi-region scenarios. In a suite:
 *
 *   const { skip } = await requireEngine();
 *   describe.skipIf(skip)('…', () => {
 *     let lab: Lab;
 *     beforeAll(async () => { lab = await Lab.create({ name: 'split' }); … });
 *     afterAll(() => lab?.close());
 *   });
 */
export { Lab, sweepAbandonedLabs, LAB_LABEL, REQUIRED_DIST } from './lab.js';
export type { LabNode, LabOptions, NodeSpec } from './lab.js';
export { ensureEngine, requireEngine, releaseEngine, PROJECT_ROOT } from './engine.js';
export type { Engine } from './engine.js';
export { docker, DockerError } from './docker.js';
export { redisNode, wanNode, REDIS_PORT, WAN_PORT, WAN_CONTROL_PORT } from './nodes.js';
