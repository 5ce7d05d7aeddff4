/**
 * CPU per block of a follower's import with no network: `N` blocks of the
 * bench chain (100 transactions each), encoded before the clock starts, go
 * through `importBlocks` `B` per call (default 10; a follower's sync
 * imports up to `network.fetchBatch`, 32) into a fresh store; prints
 * blocks/s and CPU per block (user + system, every thread, and the main
 * thread's alone). With PROF=<file> the
 * main thread's CPU profile of the timed part is written there. Run it on
 * two checkouts alternately (the machine drifts):
 *
 *   N=2000 npx node scripts/import-cpu.ts
 *   N=3000 B=32 npx node scripts/import-cpu.ts                           # a follower's batch size
 *   N=2000 PROF=/tmp/import.cpuprofile npx node scripts/import-cpu.ts
 *   N=2000 BENCH_LEVEL_COMPRESSION=off npx node scripts/import-cpu.ts   # level.compression false (bench/common.ts benchLevel)
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Session } from 'node:inspector/promises'
import { createChainStore } from '../src/index.ts'
import { encodeBlock } from '../src/codec/encode.ts'
import { LIMITS, benchChain, benchLevel, quietLogger } from '../bench/common.ts'

const N = Math.max(10, Number(process.env.N ?? 2000))
const dir = mkdtempSync(join(tmpdir(), 'import-cpu-'))
try {
  const encoded = benchChain().take(N, LIMITS).map(b => encodeBlock(b, LIMITS))
  const store = await createChainStore({ dataDir: dir, network: { enabled: false }, level: benchLevel() }, { logger: quietLogger })
  const session = new Session()
  if (process.env.PROF != null) {
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 200 })
    await session.post('Profiler.start')
  }
  const cpu0 = process.cpuUsage()
  const th0 = process.threadCpuUsage()
  const t0 = performance.now()
  const B = Math.max(1, Number(process.env.B ?? 10))
  for (let i = 0; i < N; i += B) await store.importBlocks(encoded.slice(i, i + B))
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const th = process.threadCpuUsage(th0)
  if (process.env.PROF != null) {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(process.env.PROF, JSON.stringify(profile))
  }
  await store.stop()
  const mib = Number(execFileSync('du', ['-sk', dir]).toString().split('\t')[0]) / 1024
  console.log(`${N} blocks: ${(N / ms * 1000).toFixed(0)} blocks/s, CPU ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms per block, main thread ${((th.user + th.system) / 1000 / N).toFixed(2)} ms; data dir ${mib.toFixed(0)} MiB after stop`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
