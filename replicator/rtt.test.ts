import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import type { Frame } from './codec.js';
import { RTT_ECHO_BUFFER_BYTES_MAX, RTT_ECHOES_PER_S_MAX, RTT_PROBE_MS, RTT_PROBE_TIMEOUT_MS, RTT_TOPIC, RttProbe } from './heartbeat.js';
import type { Transport } from './link.js';

function setup() {
  const clock = new FakeClock();
  const sent: Frame[] = [];
  const transport: Transport = {
    send: (f) => { sent.push(f); return 1; },
    close: () => {},
    lastSentMs: () => clock.monoMs(),
    bufferedBytes: () => 0,
  };
  const probe = new RttProbe(clock, transport);
  const bodies = () => sent.map((f) => (f.t === 'ctl' && f.topic === RTT_TOPIC ? f.body : null)) as { ping?: number; pong?: number }[];
  return { clock, probe, bodies };
}

describe('RttProbe', () => {
  it('is null until its probe comes back, then the time it took', () => {
    const { clock, probe, bodies } = setup();
    probe.start();
    const ping = bodies()[0]!.ping!;
    expect(typeof ping).toBe('number');
    expect(probe.rttMs()).toBeNull();
    clock.advance(137);
    expect(probe.onFrame({ pong: ping })).toBe(true);
    expect(probe.rttMs()).toBe(137);
    probe.stop();
  });

  it('echoes a peer probe at once with the same time', () => {
    const { probe, bodies } = setup();
    expect(probe.onFrame({ ping: 12345.5 })).toBe(true);
    expect(bodies()).toEqual([{ pong: 12345.5 }]);
  });

  it('a flood of probes is echoed at most RTT_ECHOES_PER_S_MAX times a second, none while the send buffer is full', () => {
    const { clock, probe, bodies } = setup();
    for (let i = 0; i < 100; i++) probe.onFrame({ ping: i });
    expect(bodies()).toHaveLength(RTT_ECHOES_PER_S_MAX);
    clock.advance(1000);
    probe.onFrame({ ping: 1000 });
    expect(bodies()).toHaveLength(RTT_ECHOES_PER_S_MAX + 1);
    const full = new RttProbe(clock, { send: () => { throw new Error('no send expected'); }, close: () => {}, lastSentMs: () => 0, bufferedBytes: () => RTT_ECHO_BUFFER_BYTES_MAX + 1 });
    expect(full.onFrame({ ping: 1 })).toBe(true);
  });

  it('ignores an echo of another time and refuses malformed bodies', () => {
    const { clock, probe } = setup();
    probe.start();
    clock.advance(50);
    expect(probe.onFrame({ pong: 1 })).toBe(true);
    expect(probe.rttMs()).toBeNull();
    for (const bad of [null, 7, 'x', {}, { ping: 'a' }, { pong: Number.NaN }, { ping: Infinity }]) expect(probe.onFrame(bad)).toBe(false);
    expect(probe.rttMs()).toBeNull();
    probe.stop();
  });

  it('keeps one probe outstanding: the next goes out only after the answer, or after the timeout', () => {
    const { clock, probe, bodies } = setup();
    probe.start();
    clock.advance(RTT_PROBE_MS * 3);
    expect(bodies().filter((b) => b.ping !== undefined)).toHaveLength(1); // unanswered: no second probe yet
    const first = bodies()[0]!.ping!;
    expect(probe.onFrame({ pong: first })).toBe(true);
    expect(probe.rttMs()).toBe(RTT_PROBE_MS * 3); // a slow answer still measures
    clock.advance(RTT_PROBE_MS);
    expect(bodies().filter((b) => b.ping !== undefined)).toHaveLength(2);
    clock.advance(RTT_PROBE_TIMEOUT_MS);
    const pings = bodies().filter((b) => b.ping !== undefined);
    expect(pings).toHaveLength(3); // the lost one given up, a new one sent
    expect(probe.onFrame({ pong: pings[1]!.ping! })).toBe(true); // the given-up echo is not counted
    expect(probe.rttMs()).toBe(RTT_PROBE_MS * 3);
    probe.stop();
    clock.advance(RTT_PROBE_TIMEOUT_MS * 2);
    expect(bodies().filter((b) => b.ping !== undefined)).toHaveLength(3);
  });
});
