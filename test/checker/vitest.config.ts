import { defineConfig } from 'vitest/config';

// The checker's own tests are pure; the root config's projects do not list test/checker, so
// they run with this config: `npx vitest run --config test/checker/vitest.config.ts`. The
// containers project also runs them (test/containers/checker.test.ts imports them).
export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  test: { include: ['test/checker/**/*.test.ts'], testTimeout: 20_000 },
});
