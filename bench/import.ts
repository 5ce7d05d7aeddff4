/**
 * Import: what a follower does with blocks a peer sent, measured from the
 * IPLD bytes on: `blockFromBytes` (every header and page hashed against its
 * CID and decoded) then `importBlocks`, in calls of `BENCH_IMPORT_BATCH`
 * blocks, one call at a time and two in flight (as a sync round issues
 * them: the writer stages the next batch while one is written). Beside it,
 * `importBlocks` alone on blocks already rebuilt, and the raw baseline:
 * classic-level writing only those IPLD blocks (one put each), the least a
 * follower must write, one batch at a time and two in flight. CPU per block
 * is the process's user + system time over the run divided by the blocks.
 *
 * Uses only `createChainStore`, `encodeBlock`, `blockFromBytes` and
 * `importBlocks`, so the same file runs on earlier commits for a before /
 * after comparison (bench/README.md says how).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { encodeBlock, type EncodedBlock } from '../src/codec/encode.ts'
import { createChainStore } from '../src/index.ts'
import { LIMITS, benchLevel, chunks, envInt, figure, fmt, generateChain, openRaw, pipeline, progress, quietLogger, rebuild, receivedOf, recordIpldOps, settle, type Figure, type RawBatch, type Received } from './common.ts'

/** Settings of the import part. */
export interface ImportOptions {
  /** Blocks of 100 transactions the follower imports. */
  blocks: number
  /** Blocks per `importBlocks` call (a sync round's batch). */
  batchBlocks: number
  /** Timed repetitions; the best is reported. */
  rounds: number
}

interface Run { ms: number, cpuMs: number }

async function timed (fn: () => Promise<void>): Promise<Run> {
  await settle()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await fn()
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 }
}

async function withStore (dir: string, fn: (store: Awaited<ReturnType<typeof createChainStore>>) => Promise<void>): Promise<Run> {
  const store = await createChainStore({ dataDir: dir, durability: 'process', level: benchLevel() }, { logger: quietLogger })
  try {
    return await timed(async () => { await fn(store) })
  } finally {
    await store.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs the import part; see the module comment. */
export async function runImport (root: string, opts: ImportOptions): Promise<Figure[]> {
  progress(`import: generating and encoding ${fmt(opts.blocks)} blocks (not timed)`)
  const encoded: EncodedBlock[] = generateChain(opts.blocks).inputs.map(b => encodeBlock(b, LIMITS))
  const txs = encoded.reduce((n, b) => n + b.txs.length, 0)
  const received: Received[][] = chunks(encoded.map(receivedOf), opts.batchBlocks)
  const ipld: RawBatch[] = chunks(encoded, opts.batchBlocks).map(recordIpldOps)
  const rebuilt: EncodedBlock[][] = chunks(encoded, opts.batchBlocks)
  let n = 0
  const dir = (tag: string): string => join(root, `import-${n++}-${tag}`)
  const runs: Record<string, Run[]> = { fromBytes: [], pipelined: [], importOnly: [], raw: [], rawPipe: [] }
  // warm-up: JIT, untimed
  await withStore(dir('warm'), async store => {
    for (const batch of received.slice(0, 10)) await store.importBlocks(batch.map(r => rebuild(r, LIMITS)))
  })
  // raw and store runs alike: `depth` batches (calls) in flight
  const rawRun = async (depth: number): Promise<Run> => {
    const location = dir(`raw-${depth}`)
    const db = await openRaw(location)
    try {
      return await timed(async () => {
        await pipeline(ipld, depth, async b => { await db.batch(b.keys.map((key, i) => ({ type: 'put' as const, key, value: b.values[i] }))) })
      })
    } finally {
      await db.close()
      await rm(location, { recursive: true, force: true })
    }
  }
  const fromBytesRun = async (depth: number): Promise<Run> => await withStore(dir(`bytes-${depth}`), async store => {
    await pipeline(received, depth, async batch => { await store.importBlocks(batch.map(r => rebuild(r, LIMITS))) })
  })
  for (let r = 0; r < opts.rounds; r++) {
    runs.raw.push(await rawRun(1))
    runs.rawPipe.push(await rawRun(2))
    runs.fromBytes.push(await fromBytesRun(1))
    runs.pipelined.push(await fromBytesRun(2))
    runs.importOnly.push(await withStore(dir('only'), async store => {
      for (const batch of rebuilt) await store.importBlocks(batch)
    }))
    progress(`import round ${r + 1}/${opts.rounds}: from bytes ${fmt(txs / runs.fromBytes[r].ms * 1000)} tx/s (2 in flight ${fmt(txs / runs.pipelined[r].ms * 1000)}), importBlocks alone ${fmt(txs / runs.importOnly[r].ms * 1000)} tx/s, raw IPLD puts ${fmt(txs / runs.raw[r].ms * 1000)} tx/s (2 in flight ${fmt(txs / runs.rawPipe[r].ms * 1000)})`)
  }
  const best = (k: string): Run => runs[k].reduce((a, b) => (b.ms < a.ms ? b : a))
  const blocks = encoded.length
  const raw = best('raw')
  const rawPipe = best('rawPipe')
  const rawLabel = `raw classic-level writing only the IPLD blocks (one put each), ${opts.batchBlocks} blocks per batch`
  const rawPipeLabel = `${rawLabel}, 2 in flight`
  const detail = { blocks, txs, batchBlocks: opts.batchBlocks, rounds: opts.rounds, runs }
  return [
    figure({ id: 'import.fromBytes.blocksPerSec', group: 'import', label: `blockFromBytes + importBlocks (${opts.batchBlocks} blocks/call)`, unit: 'blocks/s', value: blocks / best('fromBytes').ms * 1000, better: 'higher', baseline: { label: rawLabel, value: blocks / raw.ms * 1000 }, detail }),
    figure({ id: 'import.fromBytes.txPerSec', group: 'import', label: '  same, in transactions', unit: 'tx/s', value: txs / best('fromBytes').ms * 1000, better: 'higher', baseline: { label: rawLabel, value: txs / raw.ms * 1000 } }),
    figure({ id: 'import.fromBytes.cpuMsPerBlock', group: 'import', label: '  CPU per imported block (user + system)', unit: 'ms', value: best('fromBytes').cpuMs / blocks, better: 'lower', baseline: { label: rawLabel, value: raw.cpuMs / blocks } }),
    figure({ id: 'import.pipelined.blocksPerSec', group: 'import', label: `  2 calls in flight (the next staged while one is written)`, unit: 'blocks/s', value: blocks / best('pipelined').ms * 1000, better: 'higher', baseline: { label: rawPipeLabel, value: blocks / rawPipe.ms * 1000 } }),
    figure({ id: 'import.pipelined.cpuMsPerBlock', group: 'import', label: '    CPU per imported block', unit: 'ms', value: best('pipelined').cpuMs / blocks, better: 'lower', baseline: { label: rawPipeLabel, value: rawPipe.cpuMs / blocks } }),
    figure({ id: 'import.importOnly.blocksPerSec', group: 'import', label: 'importBlocks alone, blocks already rebuilt', unit: 'blocks/s', value: blocks / best('importOnly').ms * 1000, better: 'higher', baseline: { label: rawLabel, value: blocks / raw.ms * 1000 } }),
    figure({ id: 'import.importOnly.cpuMsPerBlock', group: 'import', label: '  CPU per block', unit: 'ms', value: best('importOnly').cpuMs / blocks, better: 'lower', baseline: { label: rawLabel, value: raw.cpuMs / blocks } })
  ]
}

/** Settings of the import part, from the environment. */
export function importOptionsFromEnv (): ImportOptions {
  return {
    blocks: Math.max(10, envInt('BENCH_IMPORT_BLOCKS', 2_000)),
    batchBlocks: Math.max(1, envInt('BENCH_IMPORT_BATCH', 10)),
    rounds: Math.max(1, envInt('BENCH_IMPORT_ROUNDS', 2))
  }
}
