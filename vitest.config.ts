import { defineConfig } from 'vitest/config';

/**
 * Tests whose subject is how threads share the cores: they run after every other file, one at a
 * time, so that no other test takes the CPU they measure.
 */
const ALONE = ['test/scoring/pool-growth.test.ts', 'test/scoring/pool-close.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ALONE } },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
