/**
 * Cold start: a fresh Node process imports the built package (`dist/`, what
 * an installed chainstore runs) and opens a store with the network off,
 * against a fresh process that imports classic-level and opens a raw
 * LevelDB, in the same run. Each figure is the median of `BENCH_COLD_RUNS`
 * processes (alternating), wall time from process start to open, and RSS
 * right after the open. `npm run build` runs first when dist/ is missing or
 * older than src/.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { envInt, figure, fmt, progress, type Figure } from './common.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Settings of the cold-start part. */
export interface ColdStartOptions { runs: number }

export function coldStartOptionsFromEnv (): ColdStartOptions {
  return { runs: Math.max(3, envInt('BENCH_COLD_RUNS', 9)) }
}

function newest (dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs)
  }
  return t
}

function ensureBuilt (): void {
  const entry = join(ROOT, 'dist', 'index.js')
  if (existsSync(entry) && statSync(entry).mtimeMs >= newest(join(ROOT, 'src'))) return
  progress('cold-start: building dist/ (npm run build, not timed)')
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
}

const STORE = `const t0 = performance.timeOrigin
const { createChainStore, createLogger } = await import(process.argv[1])
const store = await createChainStore({ dataDir: process.argv[2], network: { enabled: false } }, { logger: createLogger({ level: 'silent' }) })
const ms = Date.now() - t0
console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss }))
await store.stop()`

const RAW = `const t0 = performance.timeOrigin
const { ClassicLevel } = await import(process.argv[1])
const db = new ClassicLevel(process.argv[2], { keyEncoding: 'view', valueEncoding: 'view' })
await db.open()
const ms = Date.now() - t0
console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss }))
await db.close()`

function run (script: string, entry: string, dir: string): { ms: number, rss: number } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, entry, dir], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`cold-start child failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number, rss: number }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

/** Runs the cold-start part; see the module comment. */
export async function runColdStart (root: string, opts: ColdStartOptions): Promise<Figure[]> {
  ensureBuilt()
  const storeEntry = join(ROOT, 'dist', 'index.js')
  const rawEntry = join(ROOT, 'node_modules', 'classic-level', 'index.js')
  const store: Array<{ ms: number, rss: number }> = []
  const raw: Array<{ ms: number, rss: number }> = []
  for (let i = 0; i < opts.runs + 1; i++) {
    const dir = mkdtempSync(join(root, 'cold-'))
    try {
      // the first pair warms the page cache and is not counted
      const s = run(STORE, storeEntry, join(dir, 'store'))
      const r = run(RAW, rawEntry, join(dir, 'raw'))
      if (i > 0) { store.push(s); raw.push(r) }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const ms = median(store.map(x => x.ms))
  const rss = median(store.map(x => x.rss)) / 2 ** 20
  const rawMs = median(raw.map(x => x.ms))
  const rawRss = median(raw.map(x => x.rss)) / 2 ** 20
  progress(`cold-start: import + open ${fmt(ms)} ms, ${fmt(rss)} MiB; raw classic-level ${fmt(rawMs)} ms, ${fmt(rawRss)} MiB`)
  const detail = { runs: opts.runs, store, raw }
  return [
    figure({ id: 'coldStart.ms', group: 'cold start (network off)', label: 'process start → package imported → store open (dist/)', unit: 'ms', value: ms, better: 'lower', baseline: { label: 'process start → classic-level imported → raw LevelDB open', value: rawMs }, goal: { text: '≤ 500 ms', met: ms <= 500 }, detail }),
    figure({ id: 'coldStart.rssMiB', group: 'cold start (network off)', label: '  RSS after the open', unit: 'MiB', value: rss, better: 'lower', baseline: { label: 'raw classic-level open', value: rawRss }, goal: { text: '≤ 100 MiB', met: rss <= 100 } })
  ]
}
