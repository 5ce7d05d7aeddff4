/**
 * What sets the p99 of uncached `getBlockSync` and `getTransactionSync` on
 * a stored chain (docs/PITFALLS.md, "Memory"): stores `N` blocks × 100 txs
 * (default 2,000; `DIR=path` keeps the store and reuses it on the next
 * run), reopens it with the memory tier off, waits until LevelDB's threads
 * are quiet, then times three passes of `OPS` random block reads (default
 * 5,000) and, unless `ONLY=block`, 50,000 transaction reads by CID and by
 * string. Each pass prints throughput, p50/p90/p99/max and the CPU the other
 * threads (LevelDB, V8's GC helpers) used meanwhile.
 *
 * The transaction ids are first collected as an application would hold
 * them: from `getBlockSync(h).txIds` (default) or from `encodeBlock`
 * (`IDS=encode`, as the bench holds them). `PRETENURE=off-while-collecting`
 * turns V8's allocation-site pretenuring off while they are collected and
 * back on for the reads (`v8.setFlagsFromString`).
 *
 *   npx node --expose-gc scripts/reads-latency.ts
 *   ONLY=block npx node --expose-gc scripts/reads-latency.ts
 *   npx node --expose-gc --trace-gc --no-allocation-site-pretenuring scripts/reads-latency.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { otherThreadsMeter, settleQuiet } from '../bench/common.ts'
import { encodeBlock } from '../src/codec/encode.ts'
import { createChainStore } from '../src/index.ts'
import { createLogger } from '../src/logger.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import type { CID } from 'multiformats/cid'

const N = Number(process.env.N ?? 2000)
const OPS = Number(process.env.OPS ?? 5000)
const onlyBlocks = process.env.ONLY === 'block'
const logger = createLogger({ level: 'silent' })
const keep = process.env.DIR
const dir = keep ?? mkdtempSync(join(tmpdir(), 'chainstore-reads-latency-'))

async function pass (label: string, n: number, op: (i: number) => unknown): Promise<void> {
  await settleQuiet(5_000)
  const lat = new Float64Array(n)
  const otherThreads = otherThreadsMeter()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) { const t = performance.now(); op(i); lat[i] = performance.now() - t }
  const elapsed = performance.now() - t0
  const others = otherThreads()
  lat.sort()
  const q = (p: number): string => (lat[Math.min(n - 1, Math.floor(p * n))] * 1000).toFixed(0)
  process.stdout.write(`${label}: ${Math.round(n / elapsed * 1000)}/s, p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${(lat[n - 1] * 1000).toFixed(0)} µs; other threads ${others.toFixed(0)} ms CPU\n`)
}

try {
  let store = await createChainStore({ dataDir: dir }, { logger })
  if (store.head() == null) {
    const chain = new SyntheticChain({ txsPerBlock: [100, 100] })
    for (let i = 0; i < N / 10; i++) await store.storeBlocks(chain.take(10, store.config.limits))
  }
  const ids: CID[] = []
  if (process.env.PRETENURE === 'off-while-collecting') setFlagsFromString('--no-allocation-site-pretenuring')
  if (process.env.IDS === 'encode') {
    const again = new SyntheticChain({ txsPerBlock: [100, 100] })
    for (let i = 0; i < N / 10; i++) for (const b of again.take(10, store.config.limits)) ids.push(...encodeBlock(b, store.config.limits).txs.map(t => t.id))
  } else if (!onlyBlocks) {
    for (let h = 0; h < N; h++) ids.push(...store.getBlockSync(h).txIds)
  }
  if (process.env.PRETENURE === 'off-while-collecting') setFlagsFromString('--allocation-site-pretenuring')
  await store.stop()
  store = await createChainStore({ dataDir: dir, cache: { maxBytes: 0 } }, { logger })
  let x = 7
  const random = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32 }
  const heights = Array.from({ length: OPS }, () => Math.floor(random() * N))
  const pick = onlyBlocks ? [] : Array.from({ length: 50_000 }, () => ids[Math.floor(random() * ids.length)])
  // flat strings, as a request handler holds ids parsed from a URL
  const strings = pick.map(id => (' ' + id.toString()).slice(1))
  for (const h of heights) store.getBlockSync(h)
  for (const id of pick) store.getTransactionSync(id)
  for (let r = 0; r < 3; r++) {
    await pass('getBlockSync', OPS, i => store.getBlockSync(heights[i]))
    if (onlyBlocks) continue
    await pass('getTransactionSync(CID)', pick.length, i => store.getTransactionSync(pick[i]))
    await pass('getTransactionSync(string)', pick.length, i => store.getTransactionSync(strings[i]))
  }
  await store.stop()
} finally {
  if (keep == null) rmSync(dir, { recursive: true, force: true })
}
