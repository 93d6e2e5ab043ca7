import { createHash } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { StateFileCorruptError } from './errors.js';
import { ownerEntrySchema } from './protocol.js';
import type { DurableState } from './witness-core.js';

const FORMAT = 'geogate-witness-state';

const decisionSchema = z.strictObject({
  atMs: z.number(), keyspace: z.string(), partition: z.number().int(), fromOwner: z.string(), toOwner: z.string(),
  epoch: z.number().int().min(1), reason: z.enum(['owner-unreachable', 'failback']), requester: z.string(), detail: z.string(),
});
const bodySchema = z.strictObject({ clusterId: z.string(), owners: z.array(ownerEntrySchema), decisions: z.array(decisionSchema) });
const fileSchema = z.strictObject({ format: z.literal(FORMAT), version: z.literal(1), sha256: z.string(), body: z.string() });

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The witness's durable owners, epochs and decisions. Writes are atomic (temp file, fsync,
 * rename, fsync of the directory). `load()` answers undefined for a missing file (the
 * witness then refuses to start unless told `--init`, see server.ts); a corrupt one is an
 * error (a silent reset could hand out an epoch twice).
 */
export class StateFile {
  constructor(readonly path: string, readonly clusterId: string) {}

  async load(): Promise<DurableState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let outer: z.infer<typeof fileSchema>;
    try {
      outer = fileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new StateFileCorruptError(this.path, `unreadable (${(err as Error).message.slice(0, 200)})`);
    }
    if (sha256(outer.body) !== outer.sha256) throw new StateFileCorruptError(this.path, 'checksum mismatch');
    const body = bodySchema.safeParse(JSON.parse(outer.body));
    if (!body.success) throw new StateFileCorruptError(this.path, `bad body: ${body.error.issues[0]?.message}`);
    if (body.data.clusterId !== this.clusterId) {
      throw new StateFileCorruptError(this.path, `belongs to cluster ${body.data.clusterId}, not ${this.clusterId}`);
    }
    return { owners: body.data.owners, decisions: body.data.decisions };
  }

  async save(state: DurableState): Promise<void> {
    const body = JSON.stringify({ clusterId: this.clusterId, owners: state.owners, decisions: state.decisions });
    const text = JSON.stringify({ format: FORMAT, version: 1, sha256: sha256(body), body });
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
