/** The HELLO exchange over an in-memory channel pair: secrets for rotation, the certificate's regions (TLS). */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import type { Frame } from './codec.js';
import { dialerHandshake, serverHandshake, type HandshakeContext } from './handshake.js';
import type { CloseKind, FrameChannel } from './link.js';

/** Two connected in-memory channels: what one sends the other receives, in order. */
interface End {
  peer: End | null;
  deliver(f: Frame): void;
  end(reason: string, kind: CloseKind): void;
  channel: FrameChannel;
}

function pair(): [FrameChannel, FrameChannel] {
  const make = (): End => {
    let handler: ((f: Frame) => void) | null = null;
    const held: Frame[] = [];
    const closed: ((reason: string, kind: CloseKind) => void)[] = [];
    let open = true;
    const ch: End = {
      peer: null,
      deliver(f: Frame) { if (!open) return; if (handler) handler(f); else held.push(f); },
      end(reason: string, kind: CloseKind) { if (!open) return; open = false; for (const c of closed) c(reason, kind); },
      channel: {
        send(f: Frame) { if (!open) return 0; queueMicrotask(() => ch.peer!.deliver(f)); return 1; },
        close(reason: string, kind: CloseKind = 'error') { ch.end(reason, kind); ch.peer!.end(reason, kind); },
        lastSentMs: () => 0,
        bufferedBytes: () => 0,
        setFrameHandler(h: ((f: Frame) => void) | null) { handler = h; while (handler && held.length) handler(held.shift()!); },
        onClosed(h: (reason: string, kind: CloseKind) => void) { closed.push(h); },
        isOpen: () => open,
      } satisfies FrameChannel,
    };
    return ch;
  };
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a.channel, b.channel];
}

function ctx(region: string, secrets: string[]): HandshakeContext {
  return {
    region, clusterId: 'c', secrets: () => secrets, clock: new FakeClock(), timeoutMs: 1000,
    isPeer: (r) => r !== region, incarnation: async () => `inc-${region}`, appliedSeq: async () => 0,
  };
}

/** As the replicator does: a refused handshake closes its channel (the other side then fails too). */
function closing<T>(ch: FrameChannel, p: Promise<T>): Promise<T> {
  return p.catch((err: Error) => { ch.close(err.message, 'auth'); throw err; });
}

const OLD = 'old-secret-0123456789';
const NEW = 'new-secret-0123456789';

describe('handshake', () => {
  it('succeeds when one side signs with a secret the other accepts among several (rotation)', async () => {
    const [d, s] = pair();
    const [dialed, served] = await Promise.all([dialerHandshake(d, ctx('east', [NEW, OLD]), 'west'), serverHandshake(s, ctx('west', [OLD, NEW]))]);
    expect(dialed.peer).toBe('west');
    expect(served.peer).toBe('east');
  });

  it('fails when no secret is shared', async () => {
    const [d, s] = pair();
    const results = await Promise.allSettled([closing(d, dialerHandshake(d, ctx('east', [NEW]), 'west')), closing(s, serverHandshake(s, ctx('west', [OLD])))]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { reason: 'bad-proof' } });
  });

  it('refuses a HELLO claiming a region the client certificate does not name, before answering', async () => {
    const [d, s] = pair();
    const sent: Frame[] = [];
    const send = s.send.bind(s);
    s.send = (f) => { sent.push(f); return send(f); };
    const results = await Promise.allSettled([closing(d, dialerHandshake(d, ctx('east', [OLD]), 'west')), closing(s, serverHandshake(s, ctx('west', [OLD]), ['north']))]);
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { reason: 'certificate', peer: 'east', message: 'HELLO claims region east but the client certificate names region north' } });
    expect(sent).toEqual([]);
  });

  it('accepts a HELLO whose region the certificate names', async () => {
    const [d, s] = pair();
    const [, served] = await Promise.all([dialerHandshake(d, ctx('east', [OLD]), 'west'), serverHandshake(s, ctx('west', [OLD]), ['east'])]);
    expect(served.peer).toBe('east');
  });
});
