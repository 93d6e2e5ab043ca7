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
  /** `identity`: what `identify` found (absent without it). */
  readonly onConnection: (ws: WebSocket, req: IncomingMessage, identity?: LinkIdentity) => void;
  readonly path?: string;
  /**
   * On a TLS listener: the dialer's verified certificate, or why the upgrade is refused.
   * A refusal answers 403 with the reason before any WebSocket frame and calls `onRefused`.
   */
  readonly identify?: (req: IncomingMessage) => LinkIdentity | { readonly problem: string };
  readonly onRefused?: (problem: string, req: IncomingMessage) => void;
}

/** The regions a link's client certificate names (checked against its HELLO). */
export interface LinkIdentity {
  readonly regions: readonly string[];
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
    const identity = options.identify?.(req);
    if (identity && 'problem' in identity) {
      options.onRefused?.(identity.problem, req);
      const body = JSON.stringify({ error: { code: 'certificate_refused', message: identity.problem } });
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => options.onConnection(ws, req, identity));
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
