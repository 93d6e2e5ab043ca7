import { defineConfig } from 'vitest/config';

// Three suites: `unit` (pure logic + the deterministic simulation, beside the code and in
// test/sim), `integration` (real redis-server processes on loopback), `containers`
// (multi-region scenarios on Docker through testcontainers).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{conflict,gateway,replicator,witness,infra,security}/**/*.test.ts', 'test/sim/**/*.test.ts', 'test/checker/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'containers',
          include: ['test/containers/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
