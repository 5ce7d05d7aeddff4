/**
 * Uncached `getTransactionSync` in the process that stored the chain, to
 * watch V8's allocation-site pretenuring at work (docs/PITFALLS.md, "Memory"):
 * stores 500 blocks × 100 txs, reopens the store with the memory tier off,
 * reads every transaction once, then times three passes of 50,000 random
 * reads. Run it as it is and with the flag, with `--trace-gc` to see the
 * young GCs:
 *
 *   npx node --expose-gc --trace-gc scripts/reads-gc.ts
 *   npx node --expose-gc --trace-gc --no-allocation-site-pretenuring scripts/reads-gc.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore } from '../src/index.ts'
import { createLogger } from '../src/logger.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import type { CID } from 'multiformats/cid'

const logger = createLogger({ level: 'silent' })
const dir = mkdtempSync(join(tmpdir(), 'chainstore-reads-gc-'))
try {
  let store = await createChainStore({ dataDir: dir }, { logger })
  const chain = new SyntheticChain({ txsPerBlock: [100, 100] })
  for (let i = 0; i < 50; i++) await store.storeBlocks(chain.take(10, store.config.limits))
  const ids: CID[] = []
  for (let h = 0; h < 500; h++) ids.push(...store.getBlockSync(h).txIds)
  await store.stop()
  store = await createChainStore({ dataDir: dir, cache: { maxBytes: 0 } }, { logger })
  let x = 7
  const random = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32 }
  const pick = Array.from({ length: 50_000 }, () => ids[Math.floor(random() * ids.length)])
  for (const id of ids) store.getTransactionSync(id)
  ;(globalThis as { gc?: () => void }).gc?.()
  for (let pass = 1; pass <= 3; pass++) {
    const t0 = performance.now()
    for (let i = 0; i < pick.length; i++) store.getTransactionSync(pick[i])
    process.stdout.write(`pass ${pass}: ${Math.round(pick.length / (performance.now() - t0) * 1000)} getTransactionSync/s\n`)
  }
  await store.stop()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
