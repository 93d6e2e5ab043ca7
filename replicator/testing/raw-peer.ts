/** A hand-driven peer for tests that forge frames: raw WebSocket plus the dialler's handshake. */
import { WebSocket } from 'ws';
import { computeProof, newNonce } from '../auth.js';
import { decodeFrame, encodeFrame, PROTOCOL_VERSION, type Frame } from '../codec.js';
import { replicationUrl } from '../dialer.js';

export interface RawPeer {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  readonly closed: Promise<{ code: number; reason: string }>;
  send(frame: Frame | Uint8Array): void;
}

export async function openRaw(url: string): Promise<RawPeer> {
  const ws = new WebSocket(replicationUrl(url), { perMessageDeflate: false });
  const frames: Frame[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  ws.on('message', (data: Buffer) => {
    const result = decodeFrame(data);
    if (result.ok) frames.push(result.frame);
  });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return { ws, frames, closed, send: (f) => ws.send(f instanceof Uint8Array ? f : encodeFrame(f, 64 * 1024 * 1024)) };
}

export interface RawHelloOptions {
  readonly region: string;
  readonly serverRegion: string;
  readonly clusterId: string;
  readonly secret: string;
  readonly incarnation?: string;
  readonly applied?: number;
  /** Shared settings sent with AUTH (a peer that agrees with the server's placement). */
  readonly settings?: unknown;
}

/** Runs the dialler side of the handshake by hand; resolves once AUTH was sent. */
export async function rawHandshake(peer: RawPeer, o: RawHelloOptions): Promise<void> {
  const nonceD = newNonce();
  peer.send({ t: 'hello', v: PROTOCOL_VERSION, region: o.region, clusterId: o.clusterId, incarnation: o.incarnation ?? 'raw-inc', nonce: nonceD, applied: {}, proof: null });
  const hello = await nextFrame(peer, 'hello');
  if (hello.t !== 'hello') throw new Error('no hello');
  const proof = computeProof(o.secret, { role: 'dialer', version: PROTOCOL_VERSION, clusterId: o.clusterId, dialerRegion: o.region, serverRegion: o.serverRegion, dialerNonce: nonceD, serverNonce: hello.nonce });
  peer.send({ t: 'auth', v: PROTOCOL_VERSION, proof, applied: { [o.serverRegion]: o.applied ?? 0 }, ...(o.settings !== undefined ? { settings: o.settings } : {}) });
}

export async function nextFrame(peer: RawPeer, type: Frame['t'], timeoutMs = 3_000): Promise<Frame> {
  const start = performance.now();
  for (;;) {
    const index = peer.frames.findIndex((f) => f.t === type);
    if (index >= 0) return peer.frames.splice(index, 1)[0]!;
    if (performance.now() - start > timeoutMs) throw new Error(`no ${type} frame`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
