import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePortRange } from './ports.js';

const EPHEMERAL_LOW = 32_768;

function listen(port: number): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(() => new Promise((done) => srv.close(() => done()))));
  });
}

describe('test ports', () => {
  it('freePort picks below the ephemeral range, so outgoing connections never hold it when a listener restarts on it', async () => {
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port).toBeLessThan(EPHEMERAL_LOW);
    }
  });

  it('the port it returns can be listened on, closed and listened on again', async () => {
    const port = await freePort();
    const close = await listen(port);
    await close();
    const again = await listen(port);
    await again();
  });

  it('freePortRange returns a base whose count ports are all bindable', async () => {
    const base = await freePortRange(4);
    const closers = [];
    for (let p = base; p < base + 4; p++) closers.push(await listen(p));
    for (const close of closers) await close();
    expect(base + 4).toBeLessThanOrEqual(EPHEMERAL_LOW);
  });
});
