/**
 * The replicator's needs-repair marks in the region's Redis (replicator/repair-marks.ts):
 * one hash, peer → mark id. A mark is removed only while it is still the one the finished
 * repair began under (compare and delete in one call).
 */
import type { Redis } from 'ioredis';
import type { RepairMarkStore } from '../../replicator/repair-marks.js';
import type { StoreKeys } from './keys.js';

/** KEYS[1] marks hash; ARGV[1] peer, ARGV[2] mark. Deletes the field only when it holds that mark. Output: 1 deleted | 0 */
const CLEAR_IF_SAME = `if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then return redis.call("HDEL", KEYS[1], ARGV[1]) end return 0`;

export class RedisRepairMarks implements RepairMarkStore {
  constructor(private readonly redis: Redis, private readonly keys: StoreKeys) {}

  async load(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.repairMarks)));
  }

  async set(peer: string, mark: string): Promise<void> {
    await this.redis.hset(this.keys.repairMarks, peer, mark);
  }

  async clear(peer: string, mark: string): Promise<void> {
    await this.redis.eval(CLEAR_IF_SAME, 1, this.keys.repairMarks, peer, mark);
  }
}
