import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { FailureDetector, type PeerStateChange } from './detector.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_MISSED_MAX } from './heartbeat.js';

function setup() {
  const clock = new FakeClock();
  const changes: PeerStateChange[] = [];
  const suspectMs = DEFAULT_HEARTBEAT_MS * DEFAULT_MISSED_MAX;
  const detector = new FailureDetector('us', clock, { suspectMs, downMs: 2 * suspectMs }, (c) => changes.push({ ...c }));
  return { clock, changes, detector };
}

describe('FailureDetector', () => {
  it('starts down and goes up on the first frame', () => {
    const { detector, changes } = setup();
    expect(detector.state()).toBe('down');
    detector.heard();
    expect(detector.state()).toBe('up');
    expect(changes.map((c) => c.to)).toEqual(['up']);
  });

  it('stays up while heartbeats arrive every heartbeatMs', () => {
    const { detector, clock } = setup();
    detector.heard();
    for (let i = 0; i < 100; i++) {
      clock.advance(DEFAULT_HEARTBEAT_MS);
      detector.heard();
    }
    expect(detector.state()).toBe('up');
  });

  it('moves up -> suspect at 500 ms of silence with defaults, -> down at 1000 ms, -> up again', () => {
    const { detector, clock, changes } = setup();
    detector.heard();
    clock.advance(499);
    expect(detector.state()).toBe('up');
    clock.advance(1);
    expect(detector.state()).toBe('suspect');
    expect(changes.at(-1)?.silenceMs).toBe(500);
    clock.advance(499);
    expect(detector.state()).toBe('suspect');
    clock.advance(1);
    expect(detector.state()).toBe('down');
    detector.heard();
    expect(detector.state()).toBe('up');
    expect(changes.map((c) => c.to)).toEqual(['up', 'suspect', 'down', 'up']);
  });

  it('suspects again 500 ms after recovering from suspect (no stale timer)', () => {
    const { detector, clock } = setup();
    detector.heard();
    clock.advance(600); // suspect, timer armed for down at 1000
    detector.heard(); // up at 600
    clock.advance(499);
    expect(detector.state()).toBe('up');
    clock.advance(1);
    expect(detector.state()).toBe('suspect');
  });

  it('a closed link makes an up peer suspect at once, down after the down time', () => {
    const { detector, clock } = setup();
    detector.heard();
    clock.advance(50);
    detector.linkClosed('peer closed');
    expect(detector.state()).toBe('suspect');
    clock.advance(949);
    expect(detector.state()).toBe('suspect');
    clock.advance(1);
    expect(detector.state()).toBe('down');
  });

  it('stop cancels its timers', () => {
    const { detector, clock } = setup();
    detector.heard();
    detector.stop();
    expect(clock.pending()).toBe(0);
  });
});
