/**
 * Durability under kill -9.
 *
 * A child process (test/helpers/crash-writer.ts) writes a deterministic
 * synthetic chain plus kv entries and prints every acknowledged write; the
 * parent SIGKILLs it at a random moment, reopens the data dir in-process with
 * createChainStore (no repair step) and checks that every acknowledged block,
 * transaction, receipt, address-history entry and kv entry is there, that every
 * stored byte hashes to its CID and that nothing is half-written. The next
 * cycle's child resumes the same chain from the stored head; every
 * CRASH_EPOCH cycles (default 5) a fresh data dir and seed start, which keeps
 * the chain (and the child's regeneration of it) bounded.
 *
 *   CRASH_CYCLES        kill cycles with durability 'process' (default 25; `npm run test:crash` sets 200)
 *   CRASH_POWER_CYCLES  kill cycles with durability 'power' (default CRASH_CYCLES / 10, from 5 to 20)
 *   CRASH_EPOCH         cycles per data dir (default 5)
 *   CRASH_SEED          seed of the kill schedule and chains (default: random, printed)
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ClassicLevel } from 'classic-level'
import { parseConfig } from '../src/config/index.ts'
import { createChainStore, type ChainStore } from '../src/index.ts'
import { BLOCKS_SUBLEVEL, blockKey, heightKey } from '../src/storage/keys.ts'
import { LEVEL_DIR } from '../src/storage/level.ts'
import { SyntheticChain, rng } from '../src/synthetic/chain.ts'
import { quietLogger, tempDir } from './helpers/store.ts'
import { ExpectedChain, KV_BLOCKS, KV_META, newLedger, scanLevel, verifyStore, type CrashWriterArgs, type Ledger } from './helpers/verify-store.ts'

const WRITER = fileURLToPath(new URL('./helpers/crash-writer.ts', import.meta.url))
const CYCLES = intEnv('CRASH_CYCLES', 25)
const POWER_CYCLES = intEnv('CRASH_POWER_CYCLES', Math.min(20, Math.max(5, Math.round(CYCLES / 10))))
const EPOCH = intEnv('CRASH_EPOCH', 5)
const SEED = intEnv('CRASH_SEED', Math.floor(Math.random() * 0x7fff_ffff) + 1)
const LIMITS = parseConfig({}).limits
const CHAIN = { txsPerBlock: [2, 10] as [number, number], addresses: 40, dataBytes: 16 }
const KV = { blocks: KV_BLOCKS, meta: KV_META }

function intEnv (name: string, def: number): number {
  const raw = process.env[name]
  if (raw == null || raw === '') return def
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${raw}`)
  return n
}

// the kill schedule is reproducible from CRASH_SEED (timing itself is not)

// everything a failing test could leave behind
const liveChildren = new Set<ChildProcessWithoutNullStreams>()
const openStores = new Set<ChainStore>()
const dirs = new Set<() => Promise<void>>()
/** Set when a test ends, so that a timed-out cycle loop stops spawning. */
let ended = false

beforeEach(() => { ended = false })
afterEach(async () => {
  ended = true
  for (const child of liveChildren) child.kill('SIGKILL')
  await Promise.all([...liveChildren].map(async c => { if (c.exitCode == null && c.signalCode == null) await once(c, 'close') }))
  liveChildren.clear()
  for (const s of openStores) await s.stop().catch(() => {})
  openStores.clear()
  for (const cleanup of dirs) await cleanup()
  dirs.clear()
})

async function newDir (): Promise<string> {
  const { dir, cleanup } = await tempDir('chainstore-crash-')
  dirs.add(cleanup)
  return join(dir, 'data')
}

async function open (dataDir: string, durability: 'process' | 'power' = 'process'): Promise<ChainStore> {
  const store = await createChainStore({ dataDir, durability }, { logger: quietLogger })
  openStores.add(store)
  return store
}

async function close (store: ChainStore): Promise<void> {
  await store.stop()
  openStores.delete(store)
}

type Msg = Record<string, any> & { t: string }

/** A running writer: its protocol lines as they arrive, and its end. */
class Writer {
  readonly child: ChildProcessWithoutNullStreams
  readonly lines: Msg[] = []
  stderr = ''
  #buf = ''
  #waiters: Array<{ test: (m: Msg) => boolean, resolve: (m: Msg) => void }> = []
  readonly closed: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  onLine: (m: Msg) => void = () => {}

  constructor (args: CrashWriterArgs) {
    this.child = spawn(process.execPath, [WRITER, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] })
    liveChildren.add(this.child)
    this.child.stdout.setEncoding('utf8')
    this.child.stderr.setEncoding('utf8')
    this.child.stdout.on('data', (chunk: string) => {
      this.#buf += chunk
      let nl: number
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, nl)
        this.#buf = this.#buf.slice(nl + 1)
        const msg = JSON.parse(line) as Msg
        this.lines.push(msg)
        this.onLine(msg)
        this.#waiters = this.#waiters.filter(w => { if (w.test(msg)) { w.resolve(msg); return false } return true })
      }
    })
    this.child.stderr.on('data', (chunk: string) => { this.stderr += chunk })
    const child = this.child
    this.closed = (async () => {
      // 'close' comes after stdout ended: every line the child wrote has been read
      const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
      liveChildren.delete(child)
      return { code, signal }
    })()
  }

  /** A partial last line (killed mid-write) is never an acknowledgement: it is dropped. */
  get partialTail (): boolean { return this.#buf.length > 0 }

  /** The first line matching `test` (or a rejection when the child ends first). */
  async waitFor (test: (m: Msg) => boolean, what: string): Promise<Msg> {
    const seen = this.lines.find(test)
    if (seen != null) return seen
    return await Promise.race([
      new Promise<Msg>(resolve => { this.#waiters.push({ test, resolve }) }),
      this.closed.then(({ code, signal }) => { throw new Error(`writer ended (code ${code}, signal ${signal}) before ${what}: ${this.describeFailure()}`) })
    ])
  }

  send (line: string): void { this.child.stdin.write(line + '\n') }

  kill (): void { this.child.kill('SIGKILL') }

  describeFailure (): string {
    const err = this.lines.find(m => m.t === 'error')
    return err != null ? `${err.name} in ${err.phase}: ${err.message}` : `stderr: ${this.stderr.slice(-2000)}`
  }
}

/** Adds a writer's acknowledgements to the ledger; returns how many of each it added. */
function record (ledger: Ledger, lines: Msg[]): { blocks: number, txs: number, kv: number } {
  const added = { blocks: 0, txs: 0, kv: 0 }
  for (const m of lines) {
    if (m.t === 'block') {
      if (!ledger.blocks.has(m.height)) { added.blocks++; added.txs += m.txIds.length }
      ledger.blocks.set(m.height, { cid: m.cid, txIds: m.txIds })
    } else if (m.t === 'kv') {
      added.kv++
      if (m.ns === KV_BLOCKS) ledger.kv.set(m.key, m.value)
      else if (m.ns === KV_META && m.key === 'progress') ledger.progress = Math.max(ledger.progress, m.value.height)
    }
  }
  return added
}

type KillMode = 'boot' | 'open' | 'write' | 'ack'

interface Totals {
  cycles: number
  ackedBlocks: number
  ackedTxs: number
  ackedKv: number
  lost: Set<string>
  corrupt: Set<string>
  failedOpens: string[]
  childErrors: string[]
  modes: Record<KillMode, number>
  /** What the child had last reported when the kill was sent. */
  landed: Record<string, number>
  maxHead: number
}

/**
 * Runs `cycles` kill cycles with one durability mode and returns the totals.
 * Kill moments: 'boot' (10%) a random delay within the child's measured
 * start-up time (mostly module loading, sometimes the open); 'open' (25%) a
 * random 0-150 ms after the child starts createChainStore (LevelDB log
 * recovery, Helia start, chain regeneration); 'write' (45%) a random
 * 0-600 ms after the first write started; 'ack' (20%) right as the k-th block
 * acknowledgement (k in 1..40) arrives, so the next batch is in flight.
 */
async function crashCycles (durability: 'process' | 'power', cycles: number, seed: number): Promise<Totals> {
  const random = rng(seed)
  const totals: Totals = {
    cycles: 0, ackedBlocks: 0, ackedTxs: 0, ackedKv: 0, lost: new Set(), corrupt: new Set(), failedOpens: [], childErrors: [],
    modes: { boot: 0, open: 0, write: 0, ack: 0 }, landed: {}, maxHead: -1
  }
  let bootMs = 2000
  let dataDir = ''
  let expected: ExpectedChain | undefined
  let ledger = newLedger()
  let chainSeed = 0

  for (let cycle = 0; cycle < cycles; cycle++) {
    if (ended) throw new Error('test ended (timeout?) while cycles were running')
    if (cycle % EPOCH === 0) {
      dataDir = await newDir()
      // small seeds: SyntheticChain derives per-height generators from seed * 0x9e3779b1 + height
      chainSeed = 1 + (seed + cycle) % 100_000
      expected = new ExpectedChain({ seed: chainSeed, ...CHAIN }, LIMITS)
      ledger = newLedger()
    }
    const tag = `${durability} cycle ${cycle}`
    const r = random()
    const mode: KillMode = r < 0.1 ? 'boot' : r < 0.35 ? 'open' : r < 0.8 ? 'write' : 'ack'
    const delay = random()
    totals.modes[mode]++

    const writer = new Writer({ dataDir, durability, seed: chainSeed, ...CHAIN, batchMax: 4 })
    const spawnedAt = performance.now()
    let phase = 'spawned'
    let acks = 0
    let killSent = false
    const kill = (): void => {
      if (killSent) return
      killSent = true
      totals.landed[phase] = (totals.landed[phase] ?? 0) + 1
      writer.kill()
    }
    const timers: NodeJS.Timeout[] = []
    const later = (ms: number): void => { timers.push(setTimeout(kill, ms)) }
    const ackTarget = 1 + Math.floor(delay * 40)
    writer.onLine = (m) => {
      if (m.t === 'booted' || m.t === 'opening' || m.t === 'open' || m.t === 'ready') phase = m.t
      else if (m.t === 'w') phase = 'blocks in flight'
      else if (m.t === 'k') phase = 'kv in flight'
      if (m.t === 'ready') bootMs = 0.7 * bootMs + 0.3 * (performance.now() - spawnedAt)
      if (mode === 'open' && m.t === 'opening') later(delay * 150)
      if (mode === 'write' && m.t === 'w' && m.from === writer.lines.find(x => x.t === 'ready')?.next) later(delay * 600)
      if (mode === 'ack' && m.t === 'block' && ++acks === ackTarget) kill()
    }
    if (mode === 'boot') later(delay * bootMs)
    timers.push(setTimeout(kill, 30_000)) // the schedule above always fires earlier; this only bounds a stuck child

    const { code, signal } = await writer.closed
    const childMs = performance.now() - spawnedAt
    for (const t of timers) clearTimeout(t)
    if (signal !== 'SIGKILL' || !killSent) {
      const msg = `${tag}: writer ended on its own (code ${code}, signal ${signal}): ${writer.describeFailure()}`
      const err = writer.lines.find(m => m.t === 'error')
      if (err != null && (err.phase === 'open' || err.phase === 'resume')) totals.failedOpens.push(msg)
      else totals.childErrors.push(msg)
    }
    const added = record(ledger, writer.lines)
    totals.ackedBlocks += added.blocks
    totals.ackedTxs += added.txs
    totals.ackedKv += added.kv
    totals.cycles++

    // reopen in this process, straight away, with no repair step
    let store: ChainStore
    try {
      store = await open(dataDir, durability)
    } catch (err) {
      totals.failedOpens.push(`${tag}: createChainStore failed after the kill: ${(err as Error).name}: ${(err as Error).message}`)
      continue
    }
    try {
      const headHeight = store.head()?.height ?? -1
      totals.maxHead = Math.max(totals.maxHead, headHeight)
      const maxAcked = Math.max(-1, ...ledger.blocks.keys())
      if (headHeight < maxAcked) totals.lost.add(`${tag}: head ${headHeight} is below the highest acknowledged height ${maxAcked}`)
      const findings = await verifyStore(store, expected!, ledger, KV)
      for (const l of findings.lost) totals.lost.add(`${dataDir}: ${l}`)
      for (const c of findings.corrupt) totals.corrupt.add(`${dataDir}: ${c}`)
    } finally {
      await close(store)
    }
    const verifiedAt = performance.now()
    const scan = await scanLevel(dataDir)
    for (const p of scan.problems) totals.corrupt.add(`${dataDir}: raw scan: ${p}`)
    if (process.env.CRASH_DEBUG != null) console.log(`${tag}: ${mode} child ${childMs.toFixed(0)} ms, verify ${(verifiedAt - spawnedAt - childMs).toFixed(0)} ms, scan ${(performance.now() - verifiedAt).toFixed(0)} ms, head ${scan.head}, keys ${scan.counts.keys}, boot ${bootMs.toFixed(0)}`)
  }
  return totals
}

function summary (durability: string, t: Totals, ms: number): string {
  const landed = Object.entries(t.landed).map(([k, v]) => `${k}:${v}`).join(' ')
  const modes = Object.entries(t.modes).map(([k, v]) => `${k}:${v}`).join(' ')
  return `[crash ${durability}] cycles=${t.cycles} acknowledged blocks=${t.ackedBlocks} txs=${t.ackedTxs} kv=${t.ackedKv} ` +
    `lost=${t.lost.size} corrupt=${t.corrupt.size} failedOpens=${t.failedOpens.length} childErrors=${t.childErrors.length} ` +
    `| kill modes ${modes} | landed after ${landed} | highest head ${t.maxHead} | epoch ${EPOCH} | seed ${SEED} | ${(ms / 1000).toFixed(1)} s`
}

function assertClean (t: Totals, cycles: number): void {
  const sample = (s: Iterable<string>): string[] => [...s].slice(0, 20)
  expect(sample(t.failedOpens), 'failed opens').toEqual([])
  expect(sample(t.childErrors), 'writer errors').toEqual([])
  expect(sample(t.lost), 'lost acknowledged writes').toEqual([])
  expect(sample(t.corrupt), 'corruption').toEqual([])
  expect(t.cycles).toBe(cycles)
  if (cycles >= 5) expect(t.ackedBlocks).toBeGreaterThan(0)
}

// each cycle: ~1.5-2 s of child start-up, up to ~1.2 s of writing, then verification
const cycleBudgetMs = 10_000

describe('kill -9 durability', () => {
  it(`every acknowledged write survives SIGKILL (${CYCLES} cycles, durability 'process')`, async () => {
    const started = performance.now()
    const totals = await crashCycles('process', CYCLES, SEED)
    console.log(summary('process', totals, performance.now() - started))
    assertClean(totals, CYCLES)
  }, 60_000 + CYCLES * cycleBudgetMs)

  it(`every acknowledged write survives SIGKILL (${POWER_CYCLES} cycles, durability 'power')`, async () => {
    const started = performance.now()
    const totals = await crashCycles('power', POWER_CYCLES, (SEED ^ 0x5bd1e995) >>> 0 || 1)
    console.log(summary('power', totals, performance.now() - started))
    assertClean(totals, POWER_CYCLES)
  }, 60_000 + POWER_CYCLES * cycleBudgetMs)
})

describe('one data dir, two processes', () => {
  it('a second process gets StoreLockedError, not corruption, and opens fine once the holder exits', async () => {
    const dataDir = await newDir()
    const expected = new ExpectedChain({ seed: 99, ...CHAIN }, LIMITS)
    const ledger = newLedger()
    const args: CrashWriterArgs = { dataDir, durability: 'process', seed: 99, ...CHAIN, batchMax: 4, hold: 20 }

    // 1. holder writes, then idles with the store open; the parent is refused
    const holder = new Writer(args)
    await holder.waitFor(m => m.t === 'holding', 'holding')
    const refused = await createChainStore({ dataDir }, { logger: quietLogger }).then(
      (s) => { openStores.add(s); return null },
      (err: Error) => err
    )
    expect(refused?.name).toBe('StoreLockedError')
    expect(refused?.message).toContain(dataDir)
    // a refused open leaves the holder working: it writes more and stops cleanly
    holder.send('write 10')
    await holder.waitFor(m => m.t === 'holding' && m.head === 29, 'the second holding')
    await expect(createChainStore({ dataDir }, { logger: quietLogger })).rejects.toMatchObject({ name: 'StoreLockedError' })
    holder.send('stop')
    await holder.waitFor(m => m.t === 'stopped', 'stopped')
    expect(await holder.closed).toEqual({ code: 0, signal: null })
    record(ledger, holder.lines)
    expect(ledger.blocks.size).toBe(30)

    let store = await open(dataDir)
    expect(store.head()?.height).toBe(29)
    let findings = await verifyStore(store, expected, ledger, KV)
    expect(findings.lost).toEqual([])
    expect(findings.corrupt).toEqual([])
    await close(store)

    // 2. a holder that is killed releases the lock with it
    const second = new Writer({ ...args, hold: 10 })
    await second.waitFor(m => m.t === 'holding', 'holding')
    await expect(createChainStore({ dataDir }, { logger: quietLogger })).rejects.toMatchObject({ name: 'StoreLockedError' })
    second.kill()
    expect((await second.closed).signal).toBe('SIGKILL')
    record(ledger, second.lines)
    expect(ledger.blocks.size).toBe(40)

    store = await open(dataDir)
    expect(store.head()?.height).toBe(39)
    findings = await verifyStore(store, expected, ledger, KV)
    expect(findings.lost).toEqual([])
    expect(findings.corrupt).toEqual([])
    await close(store)
    expect((await scanLevel(dataDir)).problems).toEqual([])
  }, 60_000)
})

describe('the crash checks themselves', () => {
  it('report a lost acknowledgement, tampered bytes, a hole and an entry past the head', async () => {
    const dataDir = await newDir()
    const expected = new ExpectedChain({ seed: 7, ...CHAIN }, LIMITS)
    const chain = new ExpectedChain({ seed: 7, ...CHAIN }, LIMITS)
    let store = await open(dataDir)
    const gen = new SyntheticChain({ seed: 7, ...CHAIN })
    const stored = await store.storeBlocks(gen.take(12, LIMITS))
    const ledger = newLedger()
    for (const b of stored) ledger.blocks.set(b.height, { cid: b.cid.toString(), txIds: b.txIds.map(String) })
    await store.kv(KV_BLOCKS).put('h/0000000000', { cid: stored[0].cid.toString(), txCount: 1 })
    ledger.kv.set('h/0000000000', { cid: stored[0].cid.toString(), txCount: 1 })
    await store.kv(KV_META).put('progress', { height: 11 })
    ledger.progress = 11

    // clean store: nothing reported
    let findings = await verifyStore(store, expected, ledger, KV)
    expect(findings.lost).toEqual([])
    expect(findings.corrupt).toEqual([])
    expect(findings.checked.blocks).toBe(12)
    await close(store)
    expect((await scanLevel(dataDir)).problems).toEqual([])

    // an acknowledgement the store does not have (height 12 was never written)
    chain.upTo(12)
    ledger.blocks.set(12, { cid: chain.cids[12], txIds: chain.txs[12].map(t => t.id) })
    // tamper beneath the API: other bytes under block 3's first tx page, a height entry past the head, a hole at 5
    store = await open(dataDir)
    const page = (await store.getHeader(3)).txPages[0]
    await close(store)
    const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dataDir, LEVEL_DIR), { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    const blocks = db.sublevel<string, Uint8Array>(BLOCKS_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const bytes = (await blocks.get(blockKey(page)))!
    const bad = Uint8Array.from(bytes)
    bad[bad.length - 1] ^= 1
    await blocks.put(blockKey(page), bad)
    await db.put(heightKey(40), stored[0].cid.bytes)
    await db.del(heightKey(5))
    await db.close()

    store = await open(dataDir)
    findings = await verifyStore(store, expected, ledger, KV)
    await close(store)
    expect(findings.lost).toContain('block 12')
    expect(findings.lost).toContain('block 5')
    expect(findings.corrupt.some(c => c.includes(`bytes of ${page.toString()} do not hash to it`))).toBe(true)
    expect(findings.corrupt.some(c => c.startsWith('block 5: below head'))).toBe(true)
    expect(findings.corrupt.some(c => c.includes('past the head'))).toBe(true)
    const scan = await scanLevel(dataDir)
    expect(scan.problems.some(p => p.includes('do not hash to the key'))).toBe(true)
    expect(scan.problems.some(p => p.includes('height index entry at height 40, past the head 11'))).toBe(true)
    expect(scan.problems.some(p => p.includes('height index: expected 5, found 6'))).toBe(true)
  }, 60_000)
})
