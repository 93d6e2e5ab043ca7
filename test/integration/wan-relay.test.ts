/**
 * The WAN relay on loopback in front of a real TCP echo server: shaping, cuts, heal and
 * backpressure as a client on the far side of a WAN would see them.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runWan, WanClient, WanRelay, type RunningWan } from '../../infra/wan/index.js';

interface Echo {
  port: number;
  sockets: Set<net.Socket>;
  /** When set, new connections are not read from (their receive windows fill) until `release()`. */
  paused: boolean;
  release(): void;
  close(): Promise<void>;
}

async function echoServer(): Promise<Echo> {
  const sockets = new Set<net.Socket>();
  const held: net.Socket[] = [];
  const echo: Echo = {
    port: 0, sockets, paused: false, close: async () => {},
    release: () => { for (const s of held.splice(0)) s.pipe(s); },
  };
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    if (echo.paused) held.push(s);
    else s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  echo.port = (server.address() as net.AddressInfo).port;
  echo.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return echo;
}

/** A client that records what it receives, with arrival times. */
async function dial(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  const chunks: Array<{ atMs: number; data: Buffer }> = [];
  const state = { closed: false, error: undefined as Error | undefined };
  socket.on('data', (data: Buffer) => chunks.push({ atMs: performance.now(), data }));
  socket.on('error', (err) => { state.error = err; });
  socket.on('close', () => { state.closed = true; });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const received = () => Buffer.concat(chunks.map((c) => c.data));
  return { socket, chunks, state, received };
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WAN relay on loopback', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(options: { bufferBytesMax?: number } = {}) {
    const echo = await echoServer();
    cleanups.push(() => echo.close());
    const relay = new WanRelay({ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: echo.port }, ...options });
    const { port } = await relay.start();
    cleanups.push(() => relay.close());
    const connect = async () => {
      const c = await dial(port);
      cleanups.push(() => { c.socket.destroy(); });
      return c;
    };
    return { echo, relay, port, connect };
  }

  it('carries 2 MB intact and in order both ways', async () => {
    const t = await setup();
    const c = await t.connect();
    const payload = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) % 251;
    c.socket.write(payload);
    await waitFor(() => c.received().length >= payload.length);
    expect(c.received().equals(payload)).toBe(true);
    expect(t.relay.stats().ab.bytesForwarded).toBe(payload.length);
    expect(t.relay.stats().ba.bytesForwarded).toBe(payload.length);
  });

  it('delays each direction by at least the configured time, with jitter, in order', async () => {
    const t = await setup();
    t.relay.set('ab', { delayMs: 60, jitterMs: 40 });
    t.relay.set('ba', { delayMs: 40 });
    const c = await t.connect();
    const sentAt: number[] = [];
    for (let i = 0; i < 20; i++) {
      sentAt.push(performance.now());
      c.socket.write(Buffer.from([i]));
      await sleep(3);
    }
    await waitFor(() => c.received().length >= 20);
    expect([...c.received()]).toEqual([...Array(20).keys()]);
    let offset = 0;
    for (const chunk of c.chunks) {
      // Byte `offset` was sent at sentAt[offset]; round trip ≥ 60 + 40 ms.
      expect(chunk.atMs - (sentAt[offset] ?? 0)).toBeGreaterThanOrEqual(100 - 1);
      offset += chunk.data.length;
    }
  });

  it('blackhole drops bytes and keeps the socket open; heal restores new traffic', async () => {
    const t = await setup();
    const c = await t.connect();
    c.socket.write('before');
    await waitFor(() => c.received().toString() === 'before');
    t.relay.cut('both', 'blackhole');
    c.socket.write('lost');
    await sleep(150);
    expect(c.received().toString()).toBe('before');
    expect(c.state.closed).toBe(false);
    expect(t.relay.stats().ab.bytesDropped).toBe(4);
    const held = await t.connect();
    held.socket.write('nobody hears');
    await sleep(50);
    expect(held.state.closed).toBe(false);
    expect(t.echo.sockets.size).toBe(1);

    t.relay.heal();
    // Streams with a hole are reset on heal; a new connection works.
    await waitFor(() => c.state.closed && held.state.closed);
    const fresh = await t.connect();
    fresh.socket.write('after');
    await waitFor(() => fresh.received().toString() === 'after');
  });

  it('a one-way cut loses replies only, keeping the request direction', async () => {
    const t = await setup();
    const c = await t.connect();
    t.relay.cut('ba', 'blackhole');
    c.socket.write('ping');
    await waitFor(() => t.relay.stats().ab.bytesForwarded === 4);
    await waitFor(() => t.relay.stats().ba.bytesDropped === 4);
    expect(c.received().length).toBe(0);
    expect(c.state.closed).toBe(false);
  });

  it('stall holds bytes without loss, and heal releases them on the same connection', async () => {
    const t = await setup();
    const c = await t.connect();
    t.relay.set('both', { stall: true });
    c.socket.write('held');
    await sleep(100);
    expect(c.received().length).toBe(0);
    t.relay.heal();
    await waitFor(() => c.received().toString() === 'held');
    expect(c.state.closed).toBe(false);
  });

  it('reset destroys connections and refuses new ones until healed', async () => {
    const t = await setup();
    const c = await t.connect();
    t.relay.cut('ab', 'reset');
    await waitFor(() => c.state.closed);
    expect(c.state.error?.message).toMatch(/ECONNRESET/);
    // A refused dial either fails to connect or is reset right after the accept.
    const refused = await dial(t.port).then((d) => waitFor(() => d.state.closed).then(() => 'reset'), (err: Error) => err.message);
    expect(refused).toMatch(/reset|ECONNRESET/);
    expect(t.relay.stats().connections.refused).toBe(1);
    t.relay.heal();
    const fresh = await t.connect();
    fresh.socket.write('ok');
    await waitFor(() => fresh.received().toString() === 'ok');
  });

  it('backpressure: queued bytes never exceed bufferBytesMax while the receiver stalls', async () => {
    const bufferBytesMax = 64 * 1024;
    const t = await setup({ bufferBytesMax });
    t.echo.paused = true;
    const c = await t.connect();
    const chunk = Buffer.alloc(256 * 1024, 7);
    let writesAccepted = 0;
    for (let i = 0; i < 40; i++) if (c.socket.write(chunk)) writesAccepted += 1;
    const maxSeen = { ab: 0 };
    for (let i = 0; i < 40; i++) {
      const s = t.relay.stats();
      maxSeen.ab = Math.max(maxSeen.ab, s.ab.bytesQueued);
      await sleep(10);
    }
    const s = t.relay.stats();
    expect(s.ab.bytesQueuedPeak).toBeLessThanOrEqual(bufferBytesMax);
    expect(maxSeen.ab).toBeLessThanOrEqual(bufferBytesMax);
    expect(s.ab.bytesQueued).toBe(bufferBytesMax);
    // The sender is held back: most of the 10 MB is still in its own socket buffer.
    expect(c.socket.writableLength).toBeGreaterThan(5 * 1024 * 1024);
    expect(writesAccepted).toBeLessThan(40);
    const forwarded = s.ab.bytesForwarded;
    await sleep(100);
    expect(t.relay.stats().ab.bytesForwarded).toBe(forwarded);
    // Resume the receiver: everything arrives.
    t.echo.release();
    await waitFor(() => c.received().length >= 40 * chunk.length, 15_000);
    expect(t.relay.stats().ab.bytesQueuedPeak).toBeLessThanOrEqual(bufferBytesMax);
  });

  it('is driven over its HTTP control API', async () => {
    const echo = await echoServer();
    cleanups.push(() => echo.close());
    const running: RunningWan = await runWan({ listen: '127.0.0.1:0', target: `127.0.0.1:${echo.port}`, control: '127.0.0.1:0' });
    cleanups.push(() => running.close());
    const client = new WanClient(`http://127.0.0.1:${running.control!.port}`);
    await client.set('both', { delayMs: 25 });
    const c = await dial(running.listen.port);
    cleanups.push(() => { c.socket.destroy(); });
    const start = performance.now();
    c.socket.write('x');
    await waitFor(() => c.received().length === 1);
    expect(performance.now() - start).toBeGreaterThanOrEqual(49);
    await client.cut('both', 'reset');
    await waitFor(() => c.state.closed);
    const state = await client.heal();
    expect(state.settings.ab.cut).toBe('none');
    expect(state.stats.connections.reset).toBe(1);
    await expect(client.send({ action: 'set', settings: { delayMs: -5 } } as never)).rejects.toThrow(/400/);
  });
});
