/**
 * Smoke test of the container harness: two regions' Redis in their own networks, a WAN relay
 * between them, writes through the relay from the host (control network) and from the east
 * region, and the faults the scenarios build on — relay cut/heal over its control API, a
 * network disconnect/reconnect, a one-way iptables cut, a paused and a restarted container.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WanClient } from '../../infra/wan/index.js';
import { Lab, redisNode, requireEngine, wanNode, REDIS_PORT, WAN_CONTROL_PORT, WAN_PORT, type LabNode } from './harness/index.js';

const { skip } = await requireEngine();

describe.skipIf(skip)('container harness smoke', () => {
  let lab: Lab;
  let east: string;
  let west: string;
  let redisEast: LabNode;
  let redisWest: LabNode;
  let wan: LabNode;
  let wanControl: WanClient;
  const clients: Redis[] = [];

  /** A client that fails fast instead of retrying or queueing (the relay may be cut). */
  function redis(host: string, port: number): Redis {
    const client = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false,
      retryStrategy: () => null, commandTimeout: 1000, connectTimeout: 2000 });
    client.on('error', () => {});
    clients.push(client);
    return client;
  }
  async function viaRelay(): Promise<Redis> {
    const client = redis(await lab.ip(wan), WAN_PORT);
    await client.connect();
    return client;
  }
  async function westValue(key: string): Promise<string | null> {
    const client = redis(await lab.ip(redisWest), REDIS_PORT);
    await client.connect();
    try {
      return await client.get(key);
    } finally {
      client.disconnect();
    }
  }
  /** redis-cli inside the east region, through the relay's alias there. */
  async function fromEast(args: string[]) {
    return lab.exec(redisEast, ['timeout', '3', 'redis-cli', '-h', 'wan-ew', '-p', String(WAN_PORT), ...args]);
  }

  beforeAll(async () => {
    lab = await Lab.create({ name: 'smoke' });
    east = await lab.network('east');
    west = await lab.network('west');
    [redisEast, redisWest] = await Promise.all([
      lab.start(redisNode('redis-east', { [east]: [] })),
      lab.start(redisNode('redis-west', { [west]: [] })),
    ]);
    wan = await lab.start(wanNode('wan', `redis-west:${REDIS_PORT}`, { [east]: ['wan-ew'], [west]: [] }));
    wanControl = new WanClient(`http://${await lab.ip(wan)}:${WAN_CONTROL_PORT}`);
  });

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await lab?.close();
  });

  it('writes through the relay from the host and from the east region', async () => {
    const client = await viaRelay();
    expect(await client.set('smoke:host', 'v1')).toBe('OK');
    expect(await westValue('smoke:host')).toBe('v1');
    const r = await fromEast(['SET', 'smoke:east', 'v2']);
    expect(r.output.trim()).toBe('OK');
    expect(await westValue('smoke:east')).toBe('v2');
    // Regions are isolated except through the relay: east cannot reach west's Redis directly.
    const direct = await lab.exec(redisEast, ['timeout', '2', 'redis-cli', '-h', 'redis-west', 'PING']);
    expect(direct.output).not.toContain('PONG');
  });

  it('adds the configured delay to a round trip', async () => {
    const client = await viaRelay();
    await wanControl.set('both', { delayMs: 100 });
    try {
      const start = performance.now();
      expect(await client.ping()).toBe('PONG');
      expect(performance.now() - start).toBeGreaterThanOrEqual(199);
    } finally {
      await wanControl.set('both', { delayMs: 0 });
    }
  });

  it('blackhole cut over the control API times out commands; heal restores', async () => {
    const client = await viaRelay();
    await wanControl.cut('both', 'blackhole');
    await expect(client.set('smoke:cut', 'lost')).rejects.toThrow(/timed out/i);
    expect((await wanControl.state()).stats.ab.bytesDropped).toBeGreaterThan(0);
    await wanControl.heal();
    expect(await westValue('smoke:cut')).toBeNull();
    const fresh = await viaRelay();
    expect(await fresh.set('smoke:healed', 'yes')).toBe('OK');
    expect(await westValue('smoke:healed')).toBe('yes');
  });

  it('network disconnect cuts the west link; reconnect with aliases heals it', async () => {
    await lab.disconnect(wan, west);
    const cut = await fromEast(['SET', 'smoke:net', 'lost']);
    expect(cut.output).not.toContain('OK');
    await lab.connect(wan, west);
    const healed = await fromEast(['SET', 'smoke:net', 'back']);
    expect(healed.output.trim()).toBe('OK');
    expect(await westValue('smoke:net')).toBe('back');
  });

  it('one-way iptables cut from the relay to west Redis, then removed', async () => {
    const westIp = await lab.ip(redisWest, west);
    await lab.dropTo(wan, westIp);
    try {
      const cut = await fromEast(['SET', 'smoke:oneway', 'lost']);
      expect(cut.output).not.toContain('OK');
    } finally {
      await lab.undropTo(wan, westIp);
    }
    const healed = await fromEast(['SET', 'smoke:oneway', 'ok']);
    expect(healed.output.trim()).toBe('OK');
  });

  it('a paused west Redis stops answering; unpaused it answers again', async () => {
    const client = await viaRelay();
    await lab.pause(redisWest);
    try {
      await expect(client.ping()).rejects.toThrow(/timed out/i);
    } finally {
      await lab.unpause(redisWest);
    }
    const fresh = await viaRelay();
    expect(await fresh.ping()).toBe('PONG');
  });

  it('a killed west Redis comes back after a start, keeping its network and alias', async () => {
    await lab.kill(redisWest);
    const down = await fromEast(['PING']);
    expect(down.output).not.toContain('PONG');
    await lab.startAgain(redisWest);
    let answer = '';
    for (let i = 0; i < 50 && !answer.includes('PONG'); i++) {
      answer = (await fromEast(['PING'])).output;
      if (!answer.includes('PONG')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(answer).toContain('PONG');
  });
});
