/**
 * A Sentinel group for one test: a master, a replica and 3 sentinels on random loopback
 * ports (infra/local/sentinel-group.ts), in a temp dir removed by `stop()`; and the
 * gateway config fields that point a region at it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentinelGroup, type SentinelGroupOptions } from '../../infra/local/sentinel-group.js';

export interface SentinelFixture {
  group: SentinelGroup;
  /** `redis` of a gateway config on this group (own key prefix). */
  redisConfig(keyPrefix?: string): { sentinels: string[]; name: string; keyPrefix: string };
  stop(): Promise<void>;
}

export async function startSentinelGroup(opts: Omit<SentinelGroupOptions, 'dir'> = {}): Promise<SentinelFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'geogate-sentinel-'));
  let group: SentinelGroup;
  try {
    group = await SentinelGroup.start({ ...opts, dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    group,
    redisConfig: (keyPrefix = `s${Math.random().toString(36).slice(2, 8)}:`) => ({ sentinels: group.addresses, name: group.name, keyPrefix }),
    async stop() {
      await group.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
