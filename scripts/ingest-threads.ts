/**
 * Where ingest's CPU goes by thread: stores `N` blocks of the bench chain
 * (100 transactions each, generated before the clock starts) through
 * `storeBlocks`, 10 blocks per call and 2 calls in flight as the bench's
 * ingest part does (`INFLIGHT` sets another depth), and prints tx/s with the CPU each kind of thread used
 * meanwhile (Linux only; from /proc/self/task/<tid>/stat):
 *
 * - `MainThread`: the ingest thread (encoding, indexes, the batch handed
 *   to classic-level, and the part of GC V8 does on it);
 * - `V8Worker`: V8's helper threads (parallel scavenges, concurrent
 *   marking and sweeping): what long-lived objects cost besides their bytes;
 * - `libuv-worker`: LevelDB's batch writes, and its compaction thread, which
 *   is started from a libuv worker and keeps its name.
 *
 * Run it on two checkouts, one after the other, a few times each (other
 * processes move the figures):
 *
 *   N=2000 npx node scripts/ingest-threads.ts
 *   N=3000 WRITE_BUFFER_MB=16 npx node scripts/ingest-threads.ts   # LevelDB's write buffer set
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { threadTicks } from '../bench/common.ts'
import { createChainStore } from '../src/index.ts'
import { createLogger } from '../src/logger.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'

const blocks = Math.max(10, Number(process.env.N ?? 2000))
/** LevelDB write buffer in MiB (`level.writeBufferSize`); unset: the config's default. */
const writeBufferMb = Number(process.env.WRITE_BUFFER_MB ?? 0)
const dir = mkdtempSync(join(tmpdir(), 'chainstore-ingest-threads-'))
try {
  const store = await createChainStore({ dataDir: dir, network: { enabled: false }, ...(writeBufferMb > 0 ? { level: { writeBufferSize: writeBufferMb * 2 ** 20 } } : {}) }, { logger: createLogger({ level: 'silent' }) })
  const chain = new SyntheticChain({ seed: 7, txsPerBlock: 100, dataBytes: 80 })
  const inputs = chain.take(blocks, store.config.limits)
  const before = threadTicks()
  const started = performance.now()
  const inflight: Array<Promise<unknown>> = []
  for (let i = 0; i < inputs.length; i += 10) {
    inflight.push(store.storeBlocks(inputs.slice(i, i + 10)))
    if (inflight.length >= Number(process.env.INFLIGHT ?? 2)) await inflight.shift()
  }
  await Promise.all(inflight)
  const ms = performance.now() - started
  const byName = new Map<string, number>()
  for (const [tid, { name, ticks }] of threadTicks()) byName.set(name, (byName.get(name) ?? 0) + ticks - (before.get(tid)?.ticks ?? 0))
  await store.stop()
  const txs = inputs.reduce((n, b) => n + b.transactions.length, 0)
  const cpu = [...byName].filter(([, t]) => t > 0).sort((a, b) => b[1] - a[1]).map(([name, t]) => `${name} ${(t * 10 / 1000).toFixed(2)} s`)
  process.stdout.write(`${txs} txs in ${(ms / 1000).toFixed(2)} s: ${Math.round(txs / ms * 1000)} tx/s; CPU by thread: ${cpu.join(', ')}\n`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
