import { createServer } from 'node:net';

/**
 * A TCP port that was free on `host` a moment ago, chosen at random below the kernel's
 * ephemeral range. A port the OS picks (listen on 0) lies inside that range, so a listener
 * restarted on it races every outgoing connection of the machine: seen in the suite, a
 * gateway instance restarted on its port failed with EADDRINUSE because another test's
 * connection had taken the port as its local port in between.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return freePortRange(1, host);
}

/** Below the kernel's ephemeral range (32768-60999 by default): outgoing connections never take these. */
const RANGE_LOW = 20_000;
const RANGE_HIGH = 32_000;
const RANGE_TRIES_MAX = 50;

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive ports that were all free on `host` a moment ago, chosen
 * at random below the ephemeral range: `geogate up --base-port P` takes P, P+1, …, and a base
 * from `freePort()` (in the ephemeral range) races every outgoing connection of the machine
 * for the ports after it.
 */
export async function freePortRange(count: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < RANGE_TRIES_MAX; attempt++) {
    const base = RANGE_LOW + Math.floor(Math.random() * (RANGE_HIGH - RANGE_LOW - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await bindable(p, host);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports in [${RANGE_LOW}, ${RANGE_HIGH}) after ${RANGE_TRIES_MAX} tries`);
}
