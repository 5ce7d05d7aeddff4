import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createChainStore, identityIdFromSeed } from '../src/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

/** The engine's gc(): from `--expose-gc` when the runner passed it, else switched on here. */
function exposedGc (): () => void {
  const g = (globalThis as { gc?: () => void }).gc
  if (typeof g === 'function') return g
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const CYCLES = 50

describe('store lifecycle', () => {
  it(`${CYCLES} stores opened, used and stopped in one process are all collected, and RSS stays flat`, async () => {
    const gc = exposedGc()
    const settle = async (): Promise<void> => {
      // finalizers run on a later turn after the collection that found their target dead
      for (let i = 0; i < 6; i++) {
        gc()
        await new Promise(resolve => setImmediate(resolve))
      }
    }
    let collected = 0
    const registry = new FinalizationRegistry<number>(() => { collected++ })
    const { dir, cleanup } = await tempDir('chainstore-lifecycle-')
    const chain = new SyntheticChain({ txsPerBlock: [5, 20], addresses: 50 })
    const rss: number[] = []
    try {
      // one function per cycle: a store left in a live frame's registers is held by the stack, not by the store
      const cycle = async (i: number): Promise<void> => {
        // the same data dir each time, as an embedder reopening its store
        const store = await createChainStore({ dataDir: join(dir, 'data') }, { logger: quietLogger })
        const [stored] = await store.storeBlocks(chain.take(1, store.config.limits))
        expect((await store.getBlock(stored.height)).header.height).toBe(stored.height)
        await store.status()
        expect(await store.metrics.scrape()).toContain('nodejs_gc_duration_seconds')
        await store.stop()
        registry.register(store, i)
      }
      for (let i = 0; i < CYCLES; i++) {
        await cycle(i)
        if (i === 9) { await settle(); rss.push(process.memoryUsage().rss) }
      }
      await settle()
      rss.push(process.memoryUsage().rss)
    } finally {
      await cleanup()
    }
    expect(collected).toBe(CYCLES)
    // 21 MiB a cycle when stores leaked; 40 more cycles must not add more than a few allocator pages
    expect((rss[1] - rss[0]) / 1024 / 1024).toBeLessThan(64)
  })

  it('stores with replication on (libp2p, Helia, OrbitDB) are collected once stopped, and leave no timer behind', async () => {
    const gc = exposedGc()
    const NETWORK_CYCLES = 5
    let collected = 0
    const registry = new FinalizationRegistry<number>(() => { collected++ })
    const { dir, cleanup } = await tempDir('chainstore-lifecycle-net-')
    const timers = (): number => process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
    const timersBefore = timers()
    let timersAfter = -1
    try {
      const cycle = async (i: number): Promise<void> => {
        const store = await createChainStore({
          dataDir: join(dir, 'data'),
          network: { enabled: true, seed: 'lifecycle', writers: [identityIdFromSeed('lifecycle')] }
        }, { logger: quietLogger })
        expect(store.replication).toBeDefined()
        await store.stop()
        registry.register(store, i)
      }
      for (let i = 0; i < NETWORK_CYCLES; i++) await cycle(i)
      // gossipsub's first heartbeat (100 ms) and direct-connect (1 s) timers outlive its stop
      // (docs/PITFALLS.md) and hold the node until they fire: collect until they have
      for (let round = 0; round < 100 && collected < NETWORK_CYCLES; round++) {
        gc()
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      timersAfter = timers()
    } finally {
      await cleanup()
    }
    expect(collected).toBe(NETWORK_CYCLES)
    // and nothing of theirs still holds the event loop (a 2 s stop-grace timer did, after every stop)
    expect(timersAfter).toBeLessThanOrEqual(timersBefore)
  })
})
