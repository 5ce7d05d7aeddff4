/**
 * The HTTP API while the node ingests at full speed in the same process
 * (what `chainstore start --demo` does): a client in another process asks
 * `/status`, `/api/dashboard` and `/metrics` in turn, first with the node
 * idle (the baseline), then while `storeBlocks` runs flat out. Figures: p99
 * of each path under ingest beside its idle p99, and the ingest rate.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startReadApi } from '../src/api/server.ts'
import { createChainStore } from '../src/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { envInt, figure, fmt, percentile, progress, quietLogger, type Figure } from './common.ts'

const execFileP = promisify(execFile)
const CLIENT = fileURLToPath(new URL('./api-client.ts', import.meta.url))
const PATHS = ['/status', '/api/dashboard', '/metrics']

async function load (base: string, ms: number): Promise<Record<string, number[]>> {
  const { stdout } = await execFileP(process.execPath, [CLIENT, base, String(ms), ...PATHS], { timeout: ms + 60_000 })
  const r = JSON.parse(stdout) as { latencies: Record<string, number[]>, failures: number }
  if (r.failures > 0) throw new Error(`api bench: ${r.failures} requests failed`)
  for (const l of Object.values(r.latencies)) l.sort((a, b) => a - b)
  return r.latencies
}

export async function runApi (root: string): Promise<Figure[]> {
  const ms = envInt('BENCH_API_MS', 15_000)
  const store = await createChainStore({ dataDir: join(root, 'api') }, { logger: quietLogger })
  const api = await startReadApi(store, { host: '127.0.0.1', port: 0, logger: quietLogger })
  try {
    const chain = new SyntheticChain({ seed: 7, txsPerBlock: 100 })
    await store.storeBlocks(chain.take(20, store.config.limits))
    progress(`api: ${fmt(ms / 1000)} s of requests to an idle node`)
    const idle = await load(api.url, ms)
    progress(`api: ${fmt(ms / 1000)} s of requests while storeBlocks runs flat out in the node's process`)
    let stop = false
    let txs = 0
    const started = performance.now()
    const ingest = (async () => {
      // two batches in flight, as the demo ingest keeps them
      let inFlight: Promise<unknown> | null = null
      while (!stop) {
        // the load itself is generated in 5-block steps, each a turn of its own (a 20-block take is ~30 ms of CPU)
        const batch: BlockInput[] = []
        for (let i = 0; i < 4; i++) { batch.push(...chain.take(5, store.config.limits)); await new Promise(resolve => setImmediate(resolve)) }
        const write = store.storeBlocks(batch).then(() => { txs += batch.reduce((n, b) => n + b.transactions.length, 0) })
        if (inFlight != null) await inFlight
        inFlight = write
      }
      await inFlight
    })()
    const busy = await load(api.url, ms).finally(() => { stop = true })
    await ingest
    const seconds = (performance.now() - started) / 1000
    const figures: Figure[] = PATHS.map(path => figure({
      id: `api.${path.replace(/\W+/g, '_').replace(/^_/, '')}.p99ms`,
      group: 'api',
      label: `GET ${path} p99 while ingesting (${fmt(busy[path].length)} requests)`,
      unit: 'ms',
      value: percentile(busy[path], 99),
      better: 'lower',
      baseline: { label: 'the same requests to the idle node', value: percentile(idle[path], 99) },
      goal: { text: '< 100 ms', met: percentile(busy[path], 99) < 100 },
      detail: { p50: percentile(busy[path], 50), max: busy[path][busy[path].length - 1], idleP50: percentile(idle[path], 50) }
    }))
    figures.push(figure({ id: 'api.ingest.txPerSec', group: 'api', label: 'storeBlocks meanwhile (100-tx blocks, 20 per call)', unit: 'tx/s', value: txs / seconds, better: 'higher' }))
    return figures
  } finally {
    await api.close()
    await store.stop()
  }
}
