/**
 * The coordinator's term reaches the witness (real processes): east runs two instances with
 * coordination and a witness; the witness's status names east's latest coordinator term, the
 * fencing token of the instance that coordinates; after the coordinator is killed, the new
 * coordinator's token. The witness refuses a released failback of an older term
 * (witness/witness-release-term.test.ts drives that race on the witness's state machine).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WitnessClient } from '../../witness/client.js';
import { TEST_SECRET } from '../helpers/cluster.js';
import { startInstances, type Instance, type InstancesFixture } from '../helpers/instances.js';

let fx: InstancesFixture | undefined;
afterEach(async () => { await fx?.stop(); fx = undefined; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusOf(inst: Instance): Promise<any> {
  return (await fetch(`${inst.url}/v1/status`, { signal: AbortSignal.timeout(2000) })).json();
}

/** Polls until `inst` coordinates; its token. */
async function tokenWhenCoordinating(inst: Instance, boundMs: number): Promise<number> {
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    const s = await statusOf(inst).catch(() => null);
    if (s?.coordination?.role === 'coordinator' && typeof s.coordination.token === 'number') return s.coordination.token as number;
    await sleep(20);
  }
  throw new Error(`${inst.id} did not coordinate within ${boundMs} ms`);
}

/** Polls the witness's status until it names `term` for `region`; the terms it listed last. */
async function untilWitnessTerm(witness: WitnessClient, region: string, term: number, boundMs: number): Promise<Array<{ region: string; term: number }>> {
  const until = Date.now() + boundMs;
  let terms: Array<{ region: string; term: number }> = [];
  while (Date.now() < until) {
    terms = ((await witness.status().catch(() => null)) as { terms?: typeof terms } | null)?.terms ?? [];
    if (terms.find((t) => t.region === region)?.term === term) return terms;
    await sleep(50);
  }
  throw new Error(`the witness did not learn ${region}'s term ${term} within ${boundMs} ms: ${JSON.stringify(terms)}`);
}

describe('the coordinator term towards the witness (real processes)', () => {
  it('the witness learns the coordinator\'s token as the region\'s term, and the next coordinator\'s after a kill', async () => {
    fx = await startInstances({ perRegion: { east: 2, west: 1 }, witness: true });
    const f = fx;
    const [e0, e1] = f.byName('east').instances as [Instance, Instance];
    const witness = new WitnessClient({ url: f.witnessUrl!, secret: TEST_SECRET, nowMs: () => Date.now() });
    const first = await tokenWhenCoordinating(e0, 5000);
    await untilWitnessTerm(witness, 'east', first, 5000);
    e0.child!.kill('SIGKILL');
    const second = await tokenWhenCoordinating(e1, 5000);
    expect(second).toBeGreaterThan(first);
    const terms = await untilWitnessTerm(witness, 'east', second, 5000);
    console.log(`[witness-term] east's term at the witness: ${first} (east-0), then ${second} (east-1); all: ${JSON.stringify(terms)}`);
    // west runs one instance with coordination too: its term is its own token
    const westToken = await tokenWhenCoordinating(f.byName('west').instances[0]!, 5000);
    expect(terms.find((t) => t.region === 'west')?.term).toBe(westToken);
  }, 90_000);
});
