/**
 * Serves replication links on an existing `http.Server`: WebSocket upgrades on
 * `REPLICATION_PATH` are accepted, so one port per site crosses the WAN. Other upgrade
 * paths are left to other listeners (or refused when there are none).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export const REPLICATION_PATH = '/v1/replication';

export interface ReplicationServerOptions {
  readonly frameBytesMax: number;
  readonly onConnection: (ws: WebSocket, req: IncomingMessage) => void;
  readonly path?: string;
}

export interface ReplicationServerHandle {
  /** Stops accepting links and terminates the ones accepted here. */
  close(): void;
}

export function attachReplicationServer(server: Server, options: ReplicationServerOptions): ReplicationServerHandle {
  const path = options.path ?? REPLICATION_PATH;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.frameBytesMax, perMessageDeflate: false, clientTracking: true });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      if (server.listenerCount('upgrade') === 1) socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    wss.handleUpgrade(req, socket, head, (ws) => options.onConnection(ws, req));
  };
  server.on('upgrade', onUpgrade);
  return {
    close() {
      server.off('upgrade', onUpgrade);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
