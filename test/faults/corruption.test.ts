/**
 * Damage at rest: bytes flipped in LevelDB's table files (`.ldb`) and in its
 * write-ahead log, several seeds. A store is written and closed in this
 * process; the files are damaged; a child (helpers/corruption-reader.ts)
 * reopens the data dir, reads back every block and transaction and runs
 * `verifyStore`. Each read is right, detected (a typed error) or silently
 * wrong; heights that vanished below the head are holes, detected when the
 * store refused a write on top of them or verify named them; a child killed
 * by a signal is an abort.
 *
 *   CORRUPTION_TRIALS  trials (default 12; half table files, half the log)
 *   CORRUPTION_FLIPS   bytes flipped per trial (default 4)
 *   CORRUPTION_SEED    first seed (default 1)
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { createChainStore } from '../../src/index.ts'
import { LEVEL_DIR } from '../../src/storage/level.ts'
import { SyntheticChain, rng } from '../../src/synthetic/chain.ts'
import { quietLogger, tempDir } from '../helpers/store.ts'
import type { CorruptionArgs, CorruptionReport } from './helpers/corruption-reader.ts'
import { ChildLines } from './helpers/lines.ts'

const READER = fileURLToPath(new URL('./helpers/corruption-reader.ts', import.meta.url))
const TRIALS = Number(process.env.CORRUPTION_TRIALS ?? 12)
const FLIPS = Number(process.env.CORRUPTION_FLIPS ?? 4)
const FIRST_SEED = Number(process.env.CORRUPTION_SEED ?? 1)
const BLOCKS = 150
const TXS = 40
const live = new Set<any>()
afterAll(() => { for (const c of live) c.kill('SIGKILL') })

/** Writes the seed's chain into a fresh data dir with a small write buffer, so both table files and a log exist, and closes it. */
async function writeStore (dataDir: string, seed: number): Promise<void> {
  const store = await createChainStore({ dataDir, level: { writeBufferSize: 1 << 20 } }, { logger: quietLogger })
  const chain = new SyntheticChain({ seed, txsPerBlock: TXS, addresses: 200 })
  for (let i = 0; i < BLOCKS; i += 10) await store.storeBlocks(chain.take(Math.min(10, BLOCKS - i), store.config.limits))
  await store.stop()
}

/** Flips `n` bytes of one file of the kind (`ldb`: the largest table; `log`: the write-ahead log), chosen by `random`. */
async function damage (dataDir: string, kind: 'ldb' | 'log', n: number, random: () => number): Promise<string> {
  const dir = join(dataDir, LEVEL_DIR)
  const files = []
  for (const f of await readdir(dir)) if (f.endsWith(`.${kind}`)) files.push({ f, size: (await stat(join(dir, f))).size })
  files.sort((a, b) => b.size - a.size)
  const target = files.filter(x => x.size > 0)[kind === 'ldb' ? Math.floor(random() * Math.min(3, files.length)) : 0]
  if (target == null) throw new Error(`no non-empty .${kind} file in ${dir}: ${files.map(x => `${x.f}:${x.size}`).join(', ')}`)
  const bytes = await readFile(join(dir, target.f))
  for (let i = 0; i < n; i++) bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8)
  await writeFile(join(dir, target.f), bytes)
  return `${target.f} (${target.size} B)`
}

describe('corruption at rest', () => {
  it(`${TRIALS} trials of ${FLIPS} flipped bytes in table files and the log: no silently wrong read, no undetected hole, no abort`, async () => {
    const t = { trials: 0, flips: 0, tablesSetAside: 0, salvaged: 0, reads: 0, right: 0, detected: 0, wrong: 0, untyped: 0, holes: 0, undetectedHoles: 0, aborts: 0, openErrors: 0 }
    const notes: string[] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      const seed = FIRST_SEED + trial
      const kind = trial % 2 === 0 ? 'ldb' : 'log'
      const { dir, cleanup } = await tempDir('chainstore-corrupt-')
      try {
        const dataDir = join(dir, 'data')
        await writeStore(dataDir, seed)
        const file = await damage(dataDir, kind, FLIPS, rng(seed * 7919))
        const args: CorruptionArgs = { dataDir, seed, blocks: BLOCKS, txsPerBlock: TXS }
        const child = new ChildLines(process.execPath, [READER, JSON.stringify(args)], live)
        const exit = await child.exited(240_000)
        t.trials++
        t.flips += FLIPS
        if (exit.signal != null || (exit.code !== 0 && child.lines.length === 0)) {
          t.aborts++
          notes.push(`seed ${seed} ${kind} ${file}: reader died (${exit.signal ?? `code ${exit.code}`}): ${child.stderr.slice(-300)}`)
          continue
        }
        const r = child.lines[child.lines.length - 1] as unknown as CorruptionReport
        if (!r.opened) { t.openErrors++; notes.push(`seed ${seed} ${kind}: open refused: ${r.openError}`); continue }
        t.tablesSetAside += r.tablesSetAside; t.salvaged += r.salvaged
        t.reads += r.reads; t.right += r.right; t.detected += r.detected; t.wrong += r.wrong; t.untyped += r.untyped
        if (r.missingHeights.length > 0) {
          t.holes++
          const named = ['missing-height', 'missing-index', 'missing-block', 'head-mismatch', 'lost-writes'].some(k => (r.verify[k] ?? 0) > 0)
          if (!r.writeRefused && !named) { t.undetectedHoles++; notes.push(`seed ${seed} ${kind}: heights ${r.missingHeights.slice(0, 5).join(',')} missing, write accepted, verify ${JSON.stringify(r.verify)}`) }
        }
        if (r.wrong + r.untyped > 0) notes.push(`seed ${seed} ${kind} ${file}: ${r.examples.join('; ')}`)
      } finally {
        await cleanup()
      }
    }
    console.log(`[faults:corruption] trials=${t.trials} flips=${t.flips} tablesSetAside=${t.tablesSetAside} salvagedBlocks=${t.salvaged} reads=${t.reads} right=${t.right} detected=${t.detected} silentlyWrong=${t.wrong} untyped=${t.untyped} holes=${t.holes} undetectedHoles=${t.undetectedHoles} aborts=${t.aborts} openRefused=${t.openErrors}`)
    for (const n of notes) console.log(`[faults:corruption] ${n}`)
    expect(t.wrong, notes.join('\n')).toBe(0)
    expect(t.untyped, notes.join('\n')).toBe(0)
    expect(t.undetectedHoles, notes.join('\n')).toBe(0)
    expect(t.aborts, notes.join('\n')).toBe(0)
  })
})
