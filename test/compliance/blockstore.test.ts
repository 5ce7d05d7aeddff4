/**
 * js-stores' interface-blockstore-tests against every Blockstore chainstore
 * hands to others: `store.blockstore`, Helia's blockstore of a store with the
 * network off (what `store.helia` exposes) and with gateways on, and the
 * LevelDB blockstore underneath them.
 */
import { join } from 'node:path'
import { interfaceBlockstoreTests } from 'interface-blockstore-tests'
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest'
import { createChainStore, type ChainStore } from '../../src/index.ts'
import { ImportAwareBlockstore } from '../../src/storage/import-aware.ts'
import { openLevel } from '../../src/storage/level.ts'
import { quietLogger, tempDir } from '../helpers/store.ts'
import { closeTestGateways, testGateway } from '../helpers/gateway.ts'

// the suite is written for mocha's globals
Object.assign(globalThis, { describe, it, beforeEach, afterEach, before: beforeAll, after: afterAll })

const opened: Array<{ store: ChainStore, cleanup: () => Promise<void> }> = []
async function open (config: Record<string, unknown> = {}): Promise<ChainStore> {
  const t = await tempDir('chainstore-blockstore-')
  const store = await createChainStore({ dataDir: join(t.dir, 'data'), ...config }, { logger: quietLogger })
  opened.push({ store, cleanup: t.cleanup })
  return store
}
async function closeAll (): Promise<void> {
  for (const o of opened.splice(0)) { await o.store.stop(); await o.cleanup() }
  await closeTestGateways()
}

describe('interface-blockstore: store.blockstore', () => {
  interfaceBlockstoreTests({ setup: async () => (await open()).blockstore as any, teardown: closeAll })
})

describe('interface-blockstore: store.helia.blockstore (network off)', () => {
  interfaceBlockstoreTests({ setup: async () => (await open()).helia.blockstore as any, teardown: closeAll })
})

describe('interface-blockstore: store.helia.blockstore with a trustless gateway that has none of the blocks', () => {
  interfaceBlockstoreTests({
    setup: async () => {
      const gw = await testGateway('honest', new Map())
      return (await open({ gateways: { enabled: true, urls: [gw.url], timeoutMs: 2_000 } })).helia.blockstore as any
    },
    teardown: closeAll
  })
})

describe('interface-blockstore: the LevelDB blockstore chainstore builds Helia on', () => {
  const levels: Array<{ close: () => Promise<void> }> = []
  interfaceBlockstoreTests({
    setup: async () => {
      const t = await tempDir('chainstore-blockstore-')
      const { db, blocks } = await openLevel(t.dir, { writeBufferSize: 4 << 20, cacheSize: 8 << 20 })
      levels.push({ close: async () => { await db.close(); await t.cleanup() } })
      const store = new ImportAwareBlockstore(blocks as any)
      await store.open()
      return store as any
    },
    teardown: async () => { for (const l of levels.splice(0)) await l.close() }
  })
})
