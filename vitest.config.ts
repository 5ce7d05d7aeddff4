import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the fault suite runs from `npm run test:faults` (vitest.faults.config.ts)
    exclude: ['test/faults/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // LevelDB and child processes: separate forks keep native handles isolated
    pool: 'forks'
  }
})
