import type { ChainStore } from '../node/chainstore.ts'
import { SyntheticChain } from '../synthetic/chain.ts'
import { startProgress } from './progress.ts'

/** What a demo ingest did. */
export interface IngestSummary {
  blocks: number
  transactions: number
  /** Wall-clock seconds, generating the synthetic chain included. */
  seconds: number
  /** Seconds spent generating the synthetic chain (not storage work). */
  generateSeconds: number
  /** Rates over wall time minus generation: what the store sustained. */
  blocksPerSecond: number
  txPerSecond: number
  head: number | null
}

/**
 * Ingests a synthetic chain up to `targetHeight`, continuing from the store's
 * head. Two `storeBlocks` calls stay in flight so that validating and encoding
 * one batch overlaps LevelDB writing the previous one.
 */
export async function ingestSynthetic (store: ChainStore, options: { targetHeight: number, batch?: number, seed?: number, progress?: boolean }): Promise<IngestSummary> {
  const batchSize = options.batch ?? 20
  const chain = new SyntheticChain({ seed: options.seed ?? 1 })
  const head = store.head()
  if (head != null) chain.resume(head)
  const total = Math.max(0, options.targetHeight - chain.height + 1)
  const bar = options.progress === false ? undefined : startProgress('ingest', total, 'blocks')
  const started = performance.now()
  let blocks = 0
  let transactions = 0
  let generateMs = 0
  let inFlight: Promise<unknown> | undefined
  while (chain.height <= options.targetHeight) {
    const n = Math.min(batchSize, options.targetHeight - chain.height + 1)
    const t0 = performance.now()
    const batch = chain.take(n, store.config.limits)
    generateMs += performance.now() - t0
    const txs = batch.reduce((sum, b) => sum + b.transactions.length, 0)
    const write = store.storeBlocks(batch).then(() => {
      blocks += n
      transactions += txs
      bar?.update(blocks)
    })
    if (inFlight != null) await inFlight
    inFlight = write
  }
  await inFlight
  bar?.stop()
  const seconds = (performance.now() - started) / 1000
  const generateSeconds = generateMs / 1000
  const storeSeconds = Math.max(seconds - generateSeconds, 1e-9)
  return {
    blocks,
    transactions,
    seconds,
    generateSeconds,
    blocksPerSecond: blocks / storeSeconds,
    txPerSecond: transactions / storeSeconds,
    head: store.head()?.height ?? null
  }
}
