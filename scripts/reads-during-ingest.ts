/**
 * Why some `getBlockSync` calls are slow while the same process ingests:
 * stores `N` blocks of the bench chain, reopens the store with the memory
 * tier off, then reads random stored heights, one per turn of the event
 * loop, while it stores `M` more blocks (10 per call, 2 calls in flight, as
 * the bench's `reads.duringIngest` figures do). For every read of 1 ms or
 * more it prints what the ingest thread went through meanwhile (Linux
 * only, from /proc/self/task/<pid>): minor and major page faults, and
 * voluntary and involuntary context switches; and it counts how many of
 * those reads overlapped a GC pause (from a `gc` PerformanceObserver).
 *
 *   N=2000 M=1000 npx node scripts/reads-during-ingest.ts
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import { LIMITS, benchChain, quietLogger } from '../bench/common.ts'
import { createChainStore } from '../src/index.ts'

const stored = Number(process.env.N ?? 2000)
const more = Number(process.env.M ?? 1000)
const task = `/proc/self/task/${process.pid}/`

/** Minor faults, major faults, voluntary and involuntary context switches of the ingest thread so far. */
function counters (): number[] {
  const stat = readFileSync(task + 'stat', 'utf8').split(') ')[1].split(' ')
  const status = readFileSync(task + 'status', 'utf8')
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
  return [Number(stat[7]), Number(stat[9]), field('voluntary_ctxt_switches'), field('nonvoluntary_ctxt_switches')]
}

const dir = mkdtempSync(join(tmpdir(), 'reads-during-ingest-'))
const chain = benchChain().take(stored + more, LIMITS)
let store = await createChainStore({ dataDir: dir }, { logger: quietLogger })
for (let i = 0; i < stored; i += 10) await store.storeBlocks(chain.slice(i, i + 10))
await store.stop()
store = await createChainStore({ dataDir: dir, cache: { maxBytes: 0 } }, { logger: quietLogger })
const heights = Array.from({ length: 5000 }, () => Math.floor(Math.random() * stored))
for (const h of heights) store.getBlockSync(h)

const gcs: Array<{ start: number, end: number, kind: number }> = []
const observer = new PerformanceObserver(list => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind: (e as { detail?: { kind?: number } }).detail?.kind ?? 0 })
})
observer.observe({ entryTypes: ['gc'] })

const reads: Array<{ at: number, ms: number, delta: number[] }> = []
let writing = true
const started = performance.now()
const writer = (async () => {
  const inflight: Array<Promise<unknown>> = []
  for (let i = stored; i < stored + more; i += 10) {
    inflight.push(store.storeBlocks(chain.slice(i, i + 10)))
    if (inflight.length >= 2) await inflight.shift()
  }
  await Promise.all(inflight)
})().finally(() => { writing = false })
for (let i = 0; writing; i++) {
  const before = counters()
  const at = performance.now()
  store.getBlockSync(heights[i % heights.length])
  const ms = performance.now() - at
  const after = counters()
  reads.push({ at, ms, delta: after.map((v, j) => v - before[j]) })
  await new Promise(resolve => setImmediate(resolve))
}
await writer
const elapsed = performance.now() - started
await new Promise(resolve => setTimeout(resolve, 100))
observer.disconnect()
await store.stop()
rmSync(dir, { recursive: true, force: true })

const sorted = reads.map(r => r.ms).sort((a, b) => a - b)
const pct = (q: number): string => (sorted[Math.floor(q * (sorted.length - 1))] * 1000).toFixed(0)
const slow = reads.filter(r => r.ms >= 1)
const withGc = slow.filter(r => gcs.some(g => g.start < r.at + r.ms && g.end > r.at))
const sum = (j: number): number => slow.reduce((n, r) => n + (r.delta[j] > 0 ? 1 : 0), 0)
console.log(`${reads.length} reads during ingest of ${more} blocks (${Math.round(more * 100 / elapsed * 1000).toLocaleString('en-US')} tx/s): p50 ${pct(0.5)} µs, p99 ${pct(0.99)} µs, max ${pct(1)} µs`)
console.log(`${slow.length} reads of 1 ms or more: ${withGc.length} overlapped a GC pause; ${sum(2)} had a voluntary context switch, ${sum(3)} an involuntary one, ${sum(0)} a minor page fault, ${sum(1)} a major one`)
console.log('slow reads: ms  minor-faults major-faults voluntary involuntary')
for (const r of slow.slice(0, 40)) console.log(`  ${r.ms.toFixed(2)}  ${r.delta.join(' ')}`)
