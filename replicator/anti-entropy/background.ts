/**
 * The slow background sweep: at every step one partition with one peer that is up, round
 * robin over every (keyspace, partition) and then over the peers; a step is skipped while a
 * session with that peer runs (the sweep never queues behind repairs).
 */
import type { Logger } from '../../infra/log.js';
import type { AeLinks, AePlacement, PartitionRepairStats } from './types.js';

export interface BackgroundDeps {
  readonly links: Pick<AeLinks, 'status'>;
  readonly maps: ReadonlyMap<string, AePlacement>;
  readonly log: Logger;
  /** Sessions running toward `peer` now. */
  running(peer: string): number;
  shared(map: AePlacement, p: number, peer: string): boolean;
  session(peer: string, ks: string, p: number): Promise<PartitionRepairStats>;
}

export class BackgroundSweep {
  private at = 0;

  constructor(private readonly d: BackgroundDeps) {}

  step(): void {
    const up = this.d.links.status().filter((s) => s.state === 'up').map((s) => s.region);
    const all: [string, number][] = [];
    for (const [ks, map] of this.d.maps) for (let p = 0; p < map.keyspace.partitions; p++) all.push([ks, p]);
    if (up.length === 0 || all.length === 0) return;
    const i = this.at++;
    const [ks, p] = all[i % all.length]!;
    const peer = up[Math.floor(i / all.length) % up.length]!;
    if (this.d.running(peer) > 0 || !this.d.shared(this.d.maps.get(ks)!, p, peer)) return;
    void this.d.session(peer, ks, p).catch((err: unknown) => this.d.log.debug({ peer, err: (err as Error).message }, 'background anti-entropy failed'));
  }
}
