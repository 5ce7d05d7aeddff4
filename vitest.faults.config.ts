import { defineConfig } from 'vitest/config'

/**
 * The fault suite (issue 8): crashes, I/O faults, partitions, Byzantine peers,
 * property tests and fuzzing. Kept out of `npm test`; run by
 * `npm run test:faults` (CI budget) and `npm run test:faults:full` (long
 * budgets through the env knobs each file documents). One file at a time:
 * the parts start peer processes and namespaces and measure figures that a
 * second file running beside them would distort on a 2-core machine.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 15 * 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 120_000,
    // each part prints its summary line; keep them in the output
    silent: false
  }
})
