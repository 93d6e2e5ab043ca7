/** Specs of the lab's usual nodes, all from the local image. */
import type { NodeSpec } from './lab.js';

export const REDIS_PORT = 6379;
export const WAN_PORT = 7000;
export const WAN_CONTROL_PORT = 7080;

/** A region's Redis, reachable as `name` on the given networks. */
export function redisNode(name: string, networks: Record<string, string[]>): NodeSpec {
  return {
    name,
    command: ['redis-server', '--protected-mode', 'no', '--dir', '/data', '--save', '', '--appendonly', 'no'],
    networks,
    waitForLog: 'Ready to accept connections',
  };
}

/** A WAN relay (infra/wan) listening on WAN_PORT, forwarding to `target` (host:port), controlled on WAN_CONTROL_PORT. */
export function wanNode(name: string, target: string, networks: Record<string, string[]>, extraArgs: string[] = []): NodeSpec {
  return {
    name,
    command: ['node', '/app/dist/infra/wan/main.js', '--listen', `0.0.0.0:${WAN_PORT}`, '--target', target,
      '--control', `0.0.0.0:${WAN_CONTROL_PORT}`, ...extraArgs],
    networks,
    waitForLog: 'wan control listening',
  };
}
