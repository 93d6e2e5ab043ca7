/**
 * `geogate up`: a local cluster on loopback. N regions, each with its own redis-server
 * child process (append-only, in its own data dir) and its own gateway, fully meshed as
 * peers. Prints the URLs; `close()` stops everything it started.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseGatewayConfig, startGateway, type RunningGateway } from '../../gateway/index.js';
import { RedisProcess } from './redis-process.js';

export const REGION_NAMES = ['east', 'west', 'north', 'south', 'central', 'pacific', 'atlantic', 'arctic'];

export interface UpOptions {
  regions: number;
  basePort: number;
  dir?: string | undefined;
  wanDelayMs: number;
  quiet?: boolean;
}

export interface LocalCluster {
  readonly gateways: RunningGateway[];
  readonly redis: RedisProcess[];
  close(): Promise<void>;
}

export async function runUp(opts: UpOptions): Promise<LocalCluster> {
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'geogate-up-'));
  mkdirSync(dir, { recursive: true });
  const regions = REGION_NAMES.slice(0, opts.regions);
  const secret = randomBytes(16).toString('hex');
  const redis: RedisProcess[] = [];
  const gateways: RunningGateway[] = [];
  const close = async () => {
    for (const g of gateways.splice(0)) await g.close().catch(() => {});
    for (const r of redis.splice(0)) await r.stop().catch(() => {});
  };
  try {
    for (const region of regions) redis.push(await RedisProcess.start({ dir: join(dir, region) }));
    const port = (i: number) => opts.basePort + 1 + i;
    for (const [i, region] of regions.entries()) {
      const config = parseGatewayConfig({
        region,
        listen: { host: '127.0.0.1', port: port(i) },
        publicUrl: `http://127.0.0.1:${port(i)}`,
        redis: { url: redis[i]!.url },
        cluster: { id: 'local', secret, regions },
        peers: regions.flatMap((peer, j) => (j === i ? [] : [{ region: peer, url: `http://127.0.0.1:${port(j)}` }])),
        keyspaces: [
          { name: 'orders', partitions: 16, onSplit: 'fence', resolver: 'lww' },
          { name: 'carts', partitions: 16, onSplit: 'diverge', writes: 'multi-master' },
        ],
      }, `geogate up (${region})`);
      gateways.push(await startGateway(config));
    }
  } catch (err) {
    await close();
    throw err;
  }
  if (!opts.quiet) {
    process.stdout.write(`geogate local cluster "${'local'}" (data in ${dir}):\n`);
    for (const [i, g] of gateways.entries()) {
      process.stdout.write(`  ${regions[i]}: ${g.config.publicUrl}  (redis ${redis[i]!.url})\n`);
    }
    process.stdout.write(`try: curl -X PUT --data hello ${gateways[0]!.config.publicUrl}/v1/kv/carts/greeting\nCtrl-C stops everything.\n`);
  }
  return { gateways, redis, close };
}
