/**
 * Bytes allocated per cached read, by where they were allocated: stores
 * 100 blocks × 100 txs (`DIR=path` keeps the store for the next run), fills
 * the memory tier with 10,000 transactions, then samples the heap (V8's
 * sampling profiler, collected objects counted too) over `OPS` calls
 * (default 200,000) of `await getTransaction(cid)` and of
 * `getTransactionSync(cid)`. The caller's own `await` shows under this file.
 *
 *   npx node scripts/read-alloc.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore } from '../src/index.ts'
import { createLogger } from '../src/logger.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'

const OPS = Number(process.env.OPS ?? 200_000)
const keep = process.env.DIR
const dir = keep ?? mkdtempSync(join(tmpdir(), 'chainstore-read-alloc-'))

interface Node { callFrame: { functionName: string, url: string, lineNumber: number }, selfSize: number, children?: Node[] }

async function sampled (label: string, session: Session, run: () => Promise<void>): Promise<void> {
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  await run()
  const { profile } = await session.post('HeapProfiler.stopSampling') as unknown as { profile: { head: Node } }
  const by = new Map<string, number>()
  let total = 0
  const walk = (n: Node): void => {
    if (n.selfSize > 0) {
      const k = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-1)[0]}:${n.callFrame.lineNumber + 1}`
      by.set(k, (by.get(k) ?? 0) + n.selfSize)
      total += n.selfSize
    }
    for (const c of n.children ?? []) walk(c)
  }
  walk(profile.head)
  process.stdout.write(`${label}: ${(total / OPS).toFixed(0)} bytes per call\n`)
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 5)) process.stdout.write(`  ${(v / OPS).toFixed(0)}  ${k}\n`)
}

try {
  const store = await createChainStore({ dataDir: dir }, { logger: createLogger({ level: 'silent' }) })
  if (store.head() == null) await store.storeBlocks(new SyntheticChain({ txsPerBlock: [100, 100] }).take(100, store.config.limits))
  const hot = Array.from({ length: 100 }, (_, h) => store.getBlockSync(h).txIds).flat()
  for (const id of hot) store.getTransactionSync(id)
  // warm: the JIT settles before sampling
  for (let i = 0; i < OPS; i++) await store.getTransaction(hot[i % hot.length])
  const session = new Session()
  session.connect()
  await sampled('await getTransaction(cid), cached', session, async () => {
    for (let i = 0; i < OPS; i++) await store.getTransaction(hot[i % hot.length])
  })
  await sampled('getTransactionSync(cid), cached', session, async () => {
    for (let i = 0; i < OPS; i++) store.getTransactionSync(hot[i % hot.length])
  })
  session.disconnect()
  await store.stop()
} finally {
  if (keep == null) rmSync(dir, { recursive: true, force: true })
}
