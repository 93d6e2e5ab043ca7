/**
 * The coordinator lease in the region's Redis (lua/claimCoordinator-3.lua): one call claims
 * or renews and answers the holder, another releases at a clean stop.
 */
import type { Redis } from 'ioredis';
import { defineScripts, scripts } from '../store/scripts.js';
import type { StoreKeys } from '../store/keys.js';
import type { CoordinatorLeaseStore, LeaseClaim } from './election.js';

/** An instance is listed while it claimed (or renewed) within this many leases. */
export const INSTANCE_FORGET_LEASES = 5;
/** At most this many instances per region are listed. */
export const INSTANCES_LISTED_MAX = 64;

export interface InstanceSeen {
  readonly id: string;
  readonly url: string;
  /** Since its last claim, ms (Redis's clock). */
  readonly seenMsAgo: number;
}

export class RedisLeaseStore implements CoordinatorLeaseStore {
  constructor(private readonly redis: Redis, private readonly keys: StoreKeys) {
    defineScripts(redis);
  }

  /** The lease length of the last claim (a release forgets with it). */
  private leaseMsKnown = 0;

  async claim(id: string, url: string, leaseMs: number, seenToken = 0): Promise<LeaseClaim> {
    this.leaseMsKnown = leaseMs;
    return this.call(id, url, leaseMs, 'claim', seenToken);
  }

  async release(id: string): Promise<void> {
    await this.call(id, '', 0, 'release');
  }

  /** The holder as Redis has it now, without claiming (status of another process). */
  async holder(): Promise<LeaseClaim | null> {
    const [holder, token, url] = await this.redis.hmget(this.keys.coordinator, 'holder', 'token', 'url');
    return holder ? { holder, token: Number(token ?? 0), url: url ?? '' } : null;
  }

  /** The region's instances as their claims listed them (bounded: INSTANCES_LISTED_MAX). */
  async instances(): Promise<InstanceSeen[]> {
    const res = await this.redis.multi().time().hgetall(this.keys.instances).exec();
    if (!res) return [];
    const [sec, usec] = res[0]![1] as [string, string];
    const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    return Object.entries((res[1]![1] ?? {}) as Record<string, string>).map(([id, v]) => {
      const cut = v.lastIndexOf('|');
      return { id, url: v.slice(0, cut), seenMsAgo: Math.max(0, nowMs - Number(v.slice(cut + 1))) };
    }).sort((a, b) => a.id.localeCompare(b.id));
  }

  private async call(id: string, url: string, leaseMs: number, mode: 'claim' | 'release', seenToken = 0): Promise<LeaseClaim> {
    const res = (await scripts.claimCoordinator.call(this.redis, { lease: this.keys.coordinator, tokens: this.keys.coordinatorTokens, instances: this.keys.instances },
      { instanceId: id, leaseMs, url, mode, forgetMs: Math.max(leaseMs, this.leaseMsKnown) * INSTANCE_FORGET_LEASES, instancesMax: INSTANCES_LISTED_MAX, seenToken: String(seenToken) })) as [string, number | string, string];
    return { holder: String(res[0]), token: Number(res[1]), url: String(res[2]) };
  }
}
