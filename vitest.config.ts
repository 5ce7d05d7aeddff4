import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // js-stores' shared suites import aegir's chai; test/helpers/aegir-chai.ts is that, without aegir
    alias: { 'aegir/chai': fileURLToPath(new URL('./test/helpers/aegir-chai.ts', import.meta.url)) }
  },
  test: {
    include: ['test/**/*.test.ts'],
    // the fault suite runs from `npm run test:faults` (vitest.faults.config.ts)
    exclude: ['test/faults/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // LevelDB and child processes: separate forks keep native handles isolated
    pool: 'forks',
    // processed by vite (not loaded as-is) so the aegir/chai alias reaches its import
    server: { deps: { inline: ['interface-blockstore-tests'] } }
  }
})
