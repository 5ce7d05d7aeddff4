/**
 * Child process of the RSS measurement: ingests BENCH_RSS_TXS transactions
 * generated lazily (the chain never sits in memory) either through
 * `storeBlocks` (mode `store`) or as raw classic-level batches of the same
 * keys and bytes (mode `raw`), sampling its own RSS every 250 ms. Prints one
 * `RESULT {json}` line on stdout; progress goes to stderr.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBlock } from '../src/codec/encode.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { createChainStore } from '../src/index.ts'
import { WindowBuilder } from '../src/indexes/windows.ts'
import { LIMITS, benchChain, benchLevel, envInt, fmt, fullGc, openRaw, percentile, progress, quietLogger, recordStoreOps } from './common.ts'

/** What the child reports. */
export interface RssReport {
  mode: 'store' | 'raw'
  txs: number
  blocks: number
  batchBlocks: number
  depth: number
  elapsedMs: number
  /** RSS after opening the database, before the first write. */
  startRss: number
  /** Highest sampled RSS, and the kernel's high-water mark of this process's memory (VmHWM; null off Linux). */
  peakSampledRss: number
  hwmRss: number | null
  /**
   * Highest sampled anonymous and file-backed RSS (/proc/self/status RssAnon,
   * RssFile; null off Linux). File-backed pages are the node binary and
   * LevelDB's table files, which LevelDB maps into memory and compaction reads
   * through: page cache the kernel reclaims under pressure.
   */
  peakAnon: number | null
  peakFile: number | null
  /**
   * RSS when 10%, 50% and 100% of the transactions were written, the heap at that moment,
   * and the heap still reachable after a full GC (what the process actually retains).
   */
  at: Record<'10' | '50' | '100', { rss: number, anon: number | null, file: number | null, heapTotal: number, heapUsed: number, retainedHeap: number, external: number, arrayBuffers: number, elapsedMs: number }>
  /** [elapsed ms, txs written, rss bytes] every 250 ms. */
  samples: Array<[number, number, number]>
  /** Duration of each write call (`storeBlocks` or the raw batch) from its start to its promise settling, in ms. */
  writeMs: { p50: number, p99: number, max: number }
  /** The LevelDB write buffer both sides used (bytes). */
  writeBufferSize: number
}

/** RssAnon and RssFile of this process in bytes, or nulls off Linux. */
function rssParts (): { anon: number | null, file: number | null } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const kB = (name: string): number | null => { const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status); return m == null ? null : Number(m[1]) * 1024 }
    return { anon: kB('RssAnon'), file: kB('RssFile') }
  } catch {
    return { anon: null, file: null }
  }
}

function highWaterMark (): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m == null ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

function writeLatency (ms: number[]): RssReport['writeMs'] {
  const sorted = Float64Array.from(ms).sort()
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN }
}

async function main (): Promise<void> {
  const mode = process.env.BENCH_RSS_MODE === 'raw' ? 'raw' : 'store'
  const dir = process.env.BENCH_RSS_DIR
  if (dir == null || dir === '') throw new Error('BENCH_RSS_DIR is required')
  const target = envInt('BENCH_RSS_TXS', 1_000_000)
  const batchBlocks = Math.max(1, envInt('BENCH_BATCH_BLOCKS', 10))
  const depth = Math.max(1, envInt('BENCH_RSS_DEPTH', 2))
  const chain = benchChain()

  let write: (blocks: BlockInput[]) => Promise<void>
  let close: () => Promise<void>
  if (mode === 'store') {
    const store = await createChainStore({ dataDir: join(dir, 'store'), level: benchLevel() }, { logger: quietLogger })
    write = async (blocks) => { await store.storeBlocks(blocks) }
    close = async () => { await store.stop() }
  } else {
    const db = await openRaw(join(dir, 'raw'))
    const postings = new WindowBuilder(() => undefined)
    write = async (blocks) => {
      const { keys, values } = recordStoreOps(blocks.map(b => encodeBlock(b, LIMITS)), postings)
      const chained = db.batch()
      for (let i = 0; i < keys.length; i++) chained.put(keys[i], values[i])
      await chained.write({ sync: false })
    }
    close = async () => { await db.close() }
  }

  const startRss = process.memoryUsage.rss()
  const t0 = performance.now()
  let done = 0
  let blocks = 0
  let peak = startRss
  let peakAnon: number | null = null
  let peakFile: number | null = null
  const samples: Array<[number, number, number]> = []
  const sample = (): void => {
    const rss = process.memoryUsage.rss()
    if (rss > peak) peak = rss
    const parts = rssParts()
    if (parts.anon != null) peakAnon = Math.max(peakAnon ?? 0, parts.anon)
    if (parts.file != null) peakFile = Math.max(peakFile ?? 0, parts.file)
    samples.push([Math.round(performance.now() - t0), done, rss])
  }
  const timer = setInterval(sample, 250)
  const at: Partial<RssReport['at']> = {}
  const marks: Array<['10' | '50' | '100', number]> = [['10', 0.1], ['50', 0.5], ['100', 1]]
  const inflight: Array<Promise<void>> = []
  const mark = (): void => {
    for (const [name, share] of marks) {
      if (at[name] == null && done >= share * target) {
        const m = process.memoryUsage()
        const parts = rssParts()
        if (m.rss > peak) peak = m.rss
        // RSS is taken first; the GC after it only tells how much of the heap is live
        fullGc()
        const retainedHeap = process.memoryUsage().heapUsed
        at[name] = { rss: m.rss, ...parts, heapTotal: m.heapTotal, heapUsed: m.heapUsed, retainedHeap, external: m.external, arrayBuffers: m.arrayBuffers, elapsedMs: performance.now() - t0 }
        progress(`rss ${mode}: ${name}% (${fmt(done)} txs): RSS ${fmt(m.rss / 2 ** 20)} MiB, heap ${fmt(m.heapUsed / 2 ** 20)} MiB, live heap after GC ${fmt(retainedHeap / 2 ** 20)} MiB`)
      }
    }
  }
  const writeMs: number[] = []
  let queued = 0
  while (queued < target) {
    // the chain is generated batch by batch, while the previous batch is being written
    const batch: BlockInput[] = []
    for (let i = 0; i < batchBlocks && queued < target; i++) {
      const b = chain.next(LIMITS)
      batch.push(b)
      queued += b.transactions.length
    }
    const n = batch.reduce((s, b) => s + b.transactions.length, 0)
    const started = performance.now()
    inflight.push(write(batch).then(() => { writeMs.push(performance.now() - started); done += n; blocks += batch.length; mark() }))
    if (inflight.length >= depth) await inflight.shift()
  }
  await Promise.all(inflight)
  const elapsedMs = performance.now() - t0
  sample()
  clearInterval(timer)
  await close()
  const report: RssReport = {
    mode,
    txs: done,
    blocks,
    batchBlocks,
    depth,
    elapsedMs,
    startRss,
    peakSampledRss: peak,
    // not getrusage's maxrss: Linux carries it across exec, so a child would report its parent's peak
    hwmRss: highWaterMark(),
    peakAnon,
    peakFile,
    at: at as RssReport['at'],
    samples,
    writeMs: writeLatency(writeMs),
    writeBufferSize: benchLevel().writeBufferSize
  }
  process.stdout.write(`RESULT ${JSON.stringify(report)}\n`)
}

await main()
