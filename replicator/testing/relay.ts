/** A TCP relay on loopback for tests that cut a link mid-stream or count bytes on the wire. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export class TcpRelay {
  bytesUp = 0; // client → target
  bytesDown = 0; // target → client
  private readonly sockets = new Set<Socket>();
  private blocked = false;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(targetUrl: string): Promise<TcpRelay> {
    const target = new URL(targetUrl);
    let relay: TcpRelay | undefined;
    const server = createServer((client) => {
      if (!relay || relay.blocked) return void client.destroy();
      const upstream = connect(Number(target.port), target.hostname);
      const r = relay;
      for (const s of [client, upstream]) {
        r.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => { r.sockets.delete(s); client.destroy(); upstream.destroy(); });
      }
      client.on('data', (d: Buffer) => { r.bytesUp += d.byteLength; upstream.write(d); });
      upstream.on('data', (d: Buffer) => { r.bytesDown += d.byteLength; client.write(d); });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new TcpRelay(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return relay;
  }

  /** Destroys every relayed connection (both directions at once). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** While blocked, new connections are refused and existing ones cut. */
  block(on: boolean): void {
    this.blocked = on;
    if (on) this.cut();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
