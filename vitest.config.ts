import { defineConfig } from 'vitest/config';

// Three suites: `unit` (pure logic + the deterministic simulation, beside the code and in
// test/sim), `integration` (real redis-server processes on loopback), `containers`
// (multi-region scenarios on Docker through testcontainers). One group after the other
// (sequence.groupOrder): the unit files run two at a time (the default on 2 cores is one), and
// no integration file runs beside them (its timing bounds assume the machine to itself).
export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['{conflict,gateway,replicator,witness,infra,security}/**/*.test.ts', 'test/sim/**/*.test.ts', 'test/checker/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'containers',
          sequence: { groupOrder: 2 },
          include: ['test/containers/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
