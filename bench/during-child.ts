/**
 * Child process of the reads part's "while ingesting" figures: opens the
 * store in BENCH_DURING (JSON: dataDir, heights to read, the height to
 * store from, how many blocks, the nice value for the background threads)
 * with the memory tier off, times `getBlockSync` of those heights on the
 * idle store, then again, one read per turn of the event loop, while the
 * same process stores the next blocks of the bench chain (10 per call, 2
 * calls in flight). With `nice` > 0 it first gives every thread but the
 * main one that nice value (`lowerBackgroundThreads`, as `chainstore start`
 * does); in a child, so the bench process keeps its own threads as they are.
 * Prints one `RESULT {json}` line.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { createChainStore, lowerBackgroundThreads } from '../src/index.ts'
import { LIMITS, benchChain, benchLevel, chunks, percentile, quietLogger, settle, settleQuiet } from './common.ts'

interface DuringInput { dataDir: string, heights: number[], from: number, blocks: number, nice: number }

/** Latencies of one set of reads: p50, p99, slowest in µs, and how many. */
export interface Latencies { p50us: number, p99us: number, maxUs: number, reads: number }

/** What the child reports. */
export interface DuringReport { nice: number, lowered: number, idle: Latencies, during: Latencies, txPerSec: number }

function latencies (ms: number[]): Latencies {
  const sorted = Float64Array.from(ms).sort()
  return { p50us: percentile(sorted, 50) * 1000, p99us: percentile(sorted, 99) * 1000, maxUs: sorted[sorted.length - 1] * 1000, reads: sorted.length }
}

const input = JSON.parse(process.env.BENCH_DURING ?? '') as DuringInput
const extra = benchChain().take(input.from + input.blocks, LIMITS).slice(input.from)
const store = await createChainStore({ dataDir: input.dataDir, cache: { maxBytes: 0 }, level: benchLevel() }, { logger: quietLogger })
const background = lowerBackgroundThreads(input.nice)
try {
  for (const h of input.heights) store.getBlockSync(h)
  // the idle figure on a settled store: LevelDB compacts on its own threads for a while after it is reopened
  await settleQuiet()
  const idle: number[] = []
  for (const h of input.heights) {
    const t = performance.now()
    store.getBlockSync(h)
    idle.push(performance.now() - t)
  }
  await settle()
  const during: number[] = []
  let writing = true
  let ingestMs = 0
  const t0 = performance.now()
  const writer = (async () => {
    const inflight: Array<Promise<unknown>> = []
    for (const batch of chunks(extra, 10)) {
      inflight.push(store.storeBlocks(batch))
      if (inflight.length >= 2) await inflight.shift()
    }
    await Promise.all(inflight)
    ingestMs = performance.now() - t0
  })().finally(() => { writing = false })
  for (let i = 0; writing; i++) {
    const h = input.heights[i % input.heights.length]
    const t = performance.now()
    if (store.getBlockSync(h) == null) throw new Error(`getBlockSync(${h}) returned nothing`)
    during.push(performance.now() - t)
    await nextTurn()
  }
  await writer
  const report: DuringReport = { nice: input.nice, lowered: background.lowered, idle: latencies(idle), during: latencies(during), txPerSec: input.blocks * 100 / ingestMs * 1000 }
  process.stdout.write(`RESULT ${JSON.stringify(report)}\n`)
} finally {
  background.stop()
  await store.stop()
}
