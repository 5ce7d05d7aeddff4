/**
 * Peak RSS while ingesting BENCH_RSS_TXS (default 1,000,000) transactions,
 * measured in child processes so the parent's heap does not count: one child
 * through the store, one child writing the same keys and bytes to raw
 * classic-level (the baseline).
 */
import { spawn } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { NODE_LOW_MEMORY_FLAGS, NODE_MEMORY_ENV, NODE_MEMORY_FLAGS } from '../src/config/constants.ts'
import { envInt, figure, fmt, progress, type Figure } from './common.ts'
import type { RssReport } from './rss-child.ts'

/** Settings of the RSS part. */
export interface RssOptions {
  txs: number
  batchBlocks: number
  /** storeBlocks calls (and raw batches) in flight. */
  depth: number
}

/** Settings from the environment. */
export function rssOptionsFromEnv (batchBlocks: number): RssOptions {
  return { txs: Math.max(1000, envInt('BENCH_RSS_TXS', 1_000_000)), batchBlocks, depth: Math.max(1, envInt('BENCH_RSS_DEPTH', 2)) }
}

const CHILD = join(import.meta.dirname, 'rss-child.ts')

/** Children still running, so an interrupted run can end them. */
export const liveChildren = new Set<ReturnType<typeof spawn>>()

/** Runs a bench child script to its end and returns what its `RESULT {json}` line says (its stderr goes to ours). */
export async function runResultChild<T> (script: string, execArgv: string[], env: Readonly<Record<string, string>>, what: string): Promise<T> {
  const child = spawn(process.execPath, [...execArgv, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  liveChildren.add(child)
  child.once('exit', () => liveChildren.delete(child))
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (s: string) => { out += s })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  const line = out.split('\n').find(l => l.startsWith('RESULT '))
  if (code !== 0 || line == null) throw new Error(`${what} exited with ${code}; output: ${out.slice(-500)}`)
  return JSON.parse(line.slice('RESULT '.length)) as T
}

async function runChild (root: string, mode: 'store' | 'raw', opts: RssOptions, execArgv: string[] = [], env: Readonly<Record<string, string>> = {}): Promise<RssReport> {
  const dir = join(root, `rss-${mode}${execArgv.length > 0 ? '-flags' : ''}`)
  await mkdir(dir, { recursive: true })
  try {
    const childEnv = { ...env, BENCH_RSS_MODE: mode, BENCH_RSS_DIR: dir, BENCH_RSS_TXS: String(opts.txs), BENCH_BATCH_BLOCKS: String(opts.batchBlocks), BENCH_RSS_DEPTH: String(opts.depth) }
    return await runResultChild<RssReport>(CHILD, execArgv, childEnv, `rss child (${mode})`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const MiB = 2 ** 20

/** Runs both children and turns their reports into figures. */
export async function runRss (root: string, opts: RssOptions): Promise<Figure[]> {
  const env = Object.entries(NODE_MEMORY_ENV).map(([k, v]) => `${k}=${v}`)
  const memorySettings = [...env, 'node', ...NODE_MEMORY_FLAGS].join(' ')
  const lowMemorySettings = [...env, 'node', ...NODE_LOW_MEMORY_FLAGS].join(' ')
  progress(`rss: ingesting ${fmt(opts.txs)} txs in a child process through storeBlocks (${opts.batchBlocks} blocks/call, ${opts.depth} in flight; chain generated lazily)`)
  const store = await runChild(root, 'store', opts)
  progress(`rss: same through raw classic-level batches (baseline)`)
  const raw = await runChild(root, 'raw', opts)
  progress(`rss: both again with the V8 flags and malloc settings a node process gets (${memorySettings}: devnet peers, docs/DEPLOY.md's unit)`)
  const storeFlags = await runChild(root, 'store', opts, NODE_MEMORY_FLAGS, NODE_MEMORY_ENV)
  const rawFlags = await runChild(root, 'raw', opts, NODE_MEMORY_FLAGS, NODE_MEMORY_ENV)
  progress(`rss: both again trading speed for memory (${lowMemorySettings}: NODE_LOW_MEMORY_FLAGS, docs/DEPLOY.md)`)
  const storeLow = await runChild(root, 'store', opts, NODE_LOW_MEMORY_FLAGS, NODE_MEMORY_ENV)
  const rawLow = await runChild(root, 'raw', opts, NODE_LOW_MEMORY_FLAGS, NODE_MEMORY_ENV)
  const wbs = store.writeBufferSize / MiB
  const group = `peak RSS ingesting ${fmt(opts.txs)} txs (child process, chain generated lazily, LevelDB write buffer ${fmt(wbs)} MiB)`
  const rawLabel = 'raw classic-level, same keys and bytes'
  const growth = (r: RssReport): number => r.at['100'].rss / r.at['10'].rss - 1
  const peak = (r: RssReport): number => Math.max(r.peakSampledRss, r.hwmRss ?? 0)
  const lateGrowth = (r: RssReport): number => r.at['100'].rss / r.at['50'].rss - 1
  const MiBof = (n: number): number => n / MiB
  const strip = (r: RssReport): Omit<RssReport, 'samples'> & { samples: number } => ({ ...r, samples: r.samples.length })
  /** The figures of one way of starting node: store beside raw, both started that way. */
  const settingsFigures = (id: string, group: string, st: RssReport, rw: RssReport): Figure[] => [
    figure({ id: `${id}.peak`, group, label: 'peak RSS (sampled every 250 ms, and VmHWM)', unit: 'MiB', value: peak(st) / MiB, better: 'lower', baseline: { label: rawLabel, value: peak(rw) / MiB }, goal: { text: '< 300 MB (286 MiB)', met: peak(st) < 300e6 }, detail: { store: strip(st), raw: strip(rw), storeSamples: st.samples, rawSamples: rw.samples } }),
    figure({ id: `${id}.peakAnon`, group, label: '  peak anonymous RSS', unit: 'MiB', value: (st.peakAnon ?? 0) / MiB, better: 'lower', baseline: { label: rawLabel, value: (rw.peakAnon ?? 0) / MiB } }),
    figure({ id: `${id}.peakFile`, group, label: '  peak file-backed RSS', unit: 'MiB', value: (st.peakFile ?? 0) / MiB, better: 'lower', baseline: { label: rawLabel, value: (rw.peakFile ?? 0) / MiB } }),
    figure({ id: `${id}.at10`, group, label: '  RSS at 10% of the txs', unit: 'MiB', value: st.at['10'].rss / MiB, better: 'lower', baseline: { label: rawLabel, value: rw.at['10'].rss / MiB } }),
    figure({ id: `${id}.at100`, group, label: '  RSS at 100%', unit: 'MiB', value: st.at['100'].rss / MiB, better: 'lower', baseline: { label: rawLabel, value: rw.at['100'].rss / MiB } }),
    figure({ id: `${id}.growth10to100`, group, label: '  growth from 10% to 100%', unit: '%', value: growth(st) * 100, better: 'lower', baseline: { label: rawLabel, value: growth(rw) * 100 }, goal: { text: 'flat: RSS at 100% within 15% of RSS at 10%', met: growth(st) <= 0.15 } }),
    figure({ id: `${id}.writeP99`, group, label: '  write call p99 (storeBlocks / raw batch, start to settled)', unit: 'ms', value: st.writeMs.p99, better: 'lower', baseline: { label: rawLabel, value: rw.writeMs.p99 }, detail: { store: st.writeMs, raw: rw.writeMs } }),
    figure({ id: `${id}.txPerSec`, group, label: '  throughput incl. lazy generation', unit: 'tx/s', value: st.txs / st.elapsedMs * 1000, better: 'higher', baseline: { label: rawLabel, value: rw.txs / rw.elapsedMs * 1000 }, detail: { note: 'generation of the chain (which encodes every block once to link the next) runs inside this loop in both children' } })
  ]
  return [
    ...settingsFigures('rss', group, store, raw),
    figure({ id: 'rss.heapTotal100', group, label: '  V8 heap reserved at 100%', unit: 'MiB', value: MiBof(store.at['100'].heapTotal), better: 'lower', baseline: { label: rawLabel, value: MiBof(raw.at['100'].heapTotal) } }),
    figure({ id: 'rss.start', group, label: '  RSS before the first write', unit: 'MiB', value: store.startRss / MiB, better: 'lower', baseline: { label: rawLabel, value: raw.startRss / MiB } }),
    figure({ id: 'rss.at50', group, label: '  RSS at 50%', unit: 'MiB', value: store.at['50'].rss / MiB, better: 'lower', baseline: { label: rawLabel, value: raw.at['50'].rss / MiB } }),
    figure({ id: 'rss.growth50to100', group, label: '  growth from 50% to 100% (chain doubles)', unit: '%', value: lateGrowth(store) * 100, better: 'lower', baseline: { label: rawLabel, value: lateGrowth(raw) * 100 } }),
    figure({ id: 'rss.retainedHeap10', group, label: '  live JS heap after GC at 10%', unit: 'MiB', value: MiBof(store.at['10'].retainedHeap), better: 'lower', baseline: { label: rawLabel, value: MiBof(raw.at['10'].retainedHeap) } }),
    figure({ id: 'rss.retainedHeap100', group, label: '  live JS heap after GC at 100%', unit: 'MiB', value: MiBof(store.at['100'].retainedHeap), better: 'lower', baseline: { label: rawLabel, value: MiBof(raw.at['100'].retainedHeap) } }),
    ...settingsFigures('rss.flags', `same, node started with ${memorySettings}`, storeFlags, rawFlags),
    ...settingsFigures('rss.lowMemory', `same, node started with ${lowMemorySettings} (memory over speed)`, storeLow, rawLow)
  ]
}
