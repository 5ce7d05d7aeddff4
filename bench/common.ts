/**
 * Shared pieces of the benchmark: the figure shape every part reports, the
 * synthetic chain every part reads, the exact LevelDB operations the store
 * writes (for the raw baselines), and small timing helpers.
 */
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ClassicLevel } from 'classic-level'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { encodeBlock, type EncodedBlock } from '../src/codec/encode.ts'
import { blockFromBytes } from '../src/codec/from-bytes.ts'
import type { BlockInput, CodecLimits } from '../src/codec/types.ts'
import { parseConfig } from '../src/config/index.ts'
import { setHeadInBatch } from '../src/chain/meta.ts'
import { addBlockToBatch } from '../src/node/block-batch.ts'
import { SAVED_WINDOW_KEY, WindowBuilder } from '../src/indexes/windows.ts'
import { createLogger } from '../src/logger.ts'
import { BLOCKS_SUBLEVEL, HELIA_SUBLEVEL, META_SCHEMA, blockKey } from '../src/storage/keys.ts'
import { META_STORE_ID } from '../src/migrations/constants.ts'
import { AUDIT_SUBLEVEL } from '../src/audit/log.ts'
import { FLAT_META_KEY } from '../src/state/keys.ts'
import type { WriteBatch } from '../src/storage/types.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'

/** One measured figure, with the raw baseline it is compared against. */
export interface Figure {
  /** Stable id, used as the JSON key. */
  id: string
  /** Table section. */
  group: string
  /** What was measured. */
  label: string
  unit: string
  value: number
  /** `higher` when a bigger value is better (throughput), `lower` for latency and memory. */
  better: 'higher' | 'lower'
  baseline?: { label: string, value: number }
  /** value / baseline.value; left out for percentages (a ratio of two shares means nothing) */
  ratio?: number
  /** The goal for this figure, and whether this run met it. */
  goal?: { text: string, met: boolean }
  /** Anything else worth keeping in the JSON (samples, sizes, settings). */
  detail?: Record<string, unknown>
}

/** Builds a figure and its ratio. */
export function figure (f: Omit<Figure, 'ratio'>): Figure {
  const ratio = f.baseline != null && f.baseline.value !== 0 && f.unit !== '%' ? f.value / f.baseline.value : undefined
  return { ...f, ...(ratio != null ? { ratio } : {}) }
}

/** Progress lines go to stderr so the table on stdout stays clean. */
export function progress (msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

/** A logger that keeps the store quiet. */
export const quietLogger = createLogger({ level: 'silent' })

/** The store's codec limits (defaults), which the generator must share. */
export const LIMITS: CodecLimits = parseConfig({}).limits

/** Shape of the benchmark chain: 100-transaction blocks of ~250-byte transactions. */
export const CHAIN_OPTIONS = { seed: 7, txsPerBlock: 100, dataBytes: 80 } as const

/** A new generator of the benchmark chain (same seed, same chain). */
export function benchChain (): SyntheticChain {
  return new SyntheticChain({ ...CHAIN_OPTIONS })
}

/** Runs `fn` over items with at most `depth` calls outstanding, in order. */
export async function pipeline<T> (items: T[], depth: number, fn: (item: T) => Promise<void>): Promise<void> {
  const inflight: Array<Promise<void>> = []
  for (const item of items) {
    inflight.push(fn(item))
    if (inflight.length >= depth) await inflight.shift()
  }
  await Promise.all(inflight)
}

/** A temp directory under os.tmpdir(), removed by `cleanup`. */
export async function tempRoot (): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'chainstore-bench-'))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** Integer from an environment variable, or a default. */
export function envInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw == null || raw === '') return fallback
  const n = Number(raw.replace(/_/g, ''))
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: expected a non-negative number, got ${raw}`)
  return Math.floor(n)
}

/** Splits an array into consecutive slices of `size`. */
export function chunks<T> (items: T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const utf8 = new TextEncoder()
/** Root-keyspace prefix of the blocks sublevel (abstract-level writes `!name!` before each key). */
const BLOCKS_PREFIX = utf8.encode(`!${BLOCKS_SUBLEVEL}!`)

/** The root-keyspace key under which the store's blocks sublevel holds `cid`. */
export function rootBlockKey (cid: CID): Uint8Array {
  const k = utf8.encode(blockKey(cid))
  const out = new Uint8Array(BLOCKS_PREFIX.length + k.length)
  out.set(BLOCKS_PREFIX, 0)
  out.set(k, BLOCKS_PREFIX.length)
  return out
}

/** The key/value pairs of one raw batch, flattened for a tight write loop. */
export interface RawBatch {
  keys: Uint8Array[]
  values: Uint8Array[]
  bytes: number
}

/**
 * Records the LevelDB puts `storeBlocks(blocks)` makes for already-encoded
 * blocks of a fresh chain: block bytes (header and pages, in the blocks
 * sublevel), every index entry, the pin records and the head, in the store's
 * order. Uses the store's own `addBlockToBatch` and `setHeadInBatch`, so the
 * baseline writes exactly the same keys and bytes. `postings` carries the
 * open postings window from one call to the next (one builder per chain);
 * `last` writes the final window, as the store does at close.
 */
export function recordStoreBatches (blocks: EncodedBlock[], batchBlocks: number): RawBatch[] {
  const postings = new WindowBuilder(() => undefined)
  const groups = chunks(blocks, batchBlocks)
  return groups.map((group, i) => recordStoreOps(group, postings, i === groups.length - 1))
}

/**
 * One call's share of {@link recordStoreBatches}.
 */
export function recordStoreOps (blocks: EncodedBlock[], postings: WindowBuilder, last = false): RawBatch {
  const keys: Uint8Array[] = []
  const values: Uint8Array[] = []
  let bytes = 0
  const batch: WriteBatch = {
    put (key, value) { keys.push(key); values.push(value); bytes += key.length + value.length },
    del () { throw new Error('the store writes no deletes on ingest') },
    putBlock (cid, value) { const key = rootBlockKey(cid); keys.push(key); values.push(value); bytes += key.length + value.length }
  }
  let head: EncodedBlock | null = null
  for (const block of blocks) {
    addBlockToBatch(batch, block, postings)
    if (head == null || block.height > head.height) head = block
  }
  // the store writes its last postings window when it closes
  if (last) postings.finish(batch)
  if (head != null) setHeadInBatch(batch, { height: head.height, cid: head.cid })
  return { keys, values, bytes }
}

/**
 * Only the IPLD blocks of each block (header and pages, one put each, keys
 * as the store's blocks sublevel writes them): the least any
 * content-addressed store of the chain must write.
 */
export function recordIpldOps (blocks: EncodedBlock[]): RawBatch {
  const keys: Uint8Array[] = []
  const values: Uint8Array[] = []
  let bytes = 0
  for (const block of blocks) {
    for (const b of [block.header, ...block.txPages, ...block.receiptPages]) {
      const key = rootBlockKey(b.cid)
      keys.push(key)
      values.push(b.bytes)
      bytes += key.length + b.bytes.length
    }
  }
  return { keys, values, bytes }
}

/** Opens a raw LevelDB with the store's encodings (binary keys and values) and its default LevelDB tuning. */
export async function openRaw (location: string): Promise<ClassicLevel<Uint8Array, Uint8Array>> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view', ...benchLevel() })
  await db.open()
  return db
}

/**
 * The LevelDB tuning of every store and raw database a run opens: the
 * config's defaults, with `BENCH_LEVEL_WRITE_BUFFER_MB` (when set) as the
 * write buffer of both sides, so a run can compare write buffer sizes, and
 * `BENCH_LEVEL_COMPRESSION=off` turning snappy off on both sides (and in
 * the replication part's peers).
 */
export function benchLevel (): { writeBufferSize: number, cacheSize: number, compression: boolean } {
  const level = { ...parseConfig({}).level, compression: process.env.BENCH_LEVEL_COMPRESSION !== 'off' }
  const mb = envInt('BENCH_LEVEL_WRITE_BUFFER_MB', 0)
  return mb > 0 ? { ...level, writeBufferSize: mb * 2 ** 20 } : level
}

/** Pre-generated benchmark chain: block inputs for the store, encoded blocks for the baselines. */
export interface Dataset {
  inputs: BlockInput[]
  txCount: number
  /** Average encoded transaction size in bytes. */
  txBytes: number
  /** Average header + pages size of a block in bytes. */
  blockBytes: number
}

/** Generates `blocks` blocks of the benchmark chain (not timed by any figure). */
export function generateChain (blocks: number): Dataset {
  const chain = benchChain()
  const inputs = chain.take(blocks, LIMITS)
  let txCount = 0
  let txBytes = 0
  let blockBytes = 0
  // sample the sizes from a few blocks instead of encoding every block again
  const sample = inputs.filter((_, i) => i % Math.max(1, Math.floor(blocks / 50)) === 0)
  for (const b of sample) {
    const e = encodeBlock(b, LIMITS)
    for (const t of e.txs) txBytes += t.bytes.length
    blockBytes += e.size
  }
  for (const b of inputs) txCount += b.transactions.length
  const sampledTxs = sample.reduce((n, b) => n + b.transactions.length, 0)
  return { inputs, txCount, txBytes: txBytes / sampledTxs, blockBytes: blockBytes / sample.length }
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile (sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[i]
}

/**
 * SHA-256 over every entry of a LevelDB (key length, key, value length, value),
 * skipping Helia's own sublevel; used to prove the baseline wrote the very
 * same keys and bytes as the store.
 */
/**
 * Keys every store writes when it opens, whatever it stores: the schema
 * version, the store's random identity and the state room's flat-index marker;
 * and the one a clean close writes: the head's postings window saved for the
 * next open. The raw baselines write chain data only, so the content check
 * skips these.
 */
const OPEN_META_KEYS = [META_SCHEMA, META_STORE_ID, FLAT_META_KEY, SAVED_WINDOW_KEY]

/**
 * Digest of every LevelDB entry but Helia's datastore, the audit trail (one
 * signed event per `storeBlocks` call, timestamped: no baseline can write the
 * same bytes; the `audit` part measures its cost) and the meta keys written
 * at open.
 */
export async function contentDigest (db: ClassicLevel<Uint8Array, Uint8Array>): Promise<{ entries: number, bytes: number, sha256: string }> {
  const skips = [utf8.encode(`!${HELIA_SUBLEVEL}!`), utf8.encode(`!${AUDIT_SUBLEVEL}!`)]
  const h = createHash('sha256')
  const len = Buffer.alloc(4)
  let entries = 0
  let bytes = 0
  for await (const [k, v] of db.iterator()) {
    if (skips.some(s => startsWith(k, s)) || OPEN_META_KEYS.some(m => equalBytes(k, m))) continue
    len.writeUInt32BE(k.length); h.update(len); h.update(k)
    len.writeUInt32BE(v.length); h.update(len); h.update(v)
    entries++
    bytes += k.length + v.length
  }
  return { entries, bytes, sha256: h.digest('hex') }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b)
}

function startsWith (b: Uint8Array, prefix: Uint8Array): boolean {
  return b.length >= prefix.length && equals(b.subarray(0, prefix.length), prefix)
}

// `npm run bench` runs plain `node bench/run.ts`; this exposes gc() without a command-line flag
setFlagsFromString('--expose-gc')
/** A full, synchronous garbage collection. */
export const fullGc = runInNewContext('gc') as () => void

/** Lets pending I/O callbacks and timers run, then a full GC, so one measurement does not pay for the last one's garbage. */
export async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
  fullGc()
  await new Promise(resolve => setTimeout(resolve, 50))
}

/** Starts counting this process's CPU (user + system): call the result for the ms so far, every thread and the main one alone. */
export function threadCpuMeter (): () => { allMs: number, mainMs: number } {
  const all0 = process.cpuUsage()
  const main0 = process.threadCpuUsage()
  return () => {
    const all = process.cpuUsage(all0)
    const main = process.threadCpuUsage(main0)
    return { allMs: (all.user + all.system) / 1000, mainMs: (main.user + main.system) / 1000 }
  }
}

/** CPU of this process's threads by kind, ms: LevelDB's (libuv's pool, where classic-level writes and LevelDB starts its compaction thread) and V8's GC helpers. */
export interface ThreadKindsMs { leveldb: number, v8Helpers: number }

/** CPU ticks (user + system, 1/100 s) of each thread of this process by thread id, with its name (Linux; empty elsewhere). */
export function threadTicks (): Map<string, { name: string, ticks: number }> {
  const out = new Map<string, { name: string, ticks: number }>()
  let tids: string[]
  try { tids = readdirSync('/proc/self/task') } catch { return out }
  for (const tid of tids) {
    try {
      // after the command name: state is the first field, utime the 12th, stime the 13th
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')
      out.set(tid, { name: readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(), ticks: Number(fields[11]) + Number(fields[12]) })
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}

/**
 * Starts counting CPU by kind of thread (see {@link ThreadKindsMs}); call
 * the result for the ms so far. Linux only (zeros elsewhere), in steps of
 * 10 ms per thread; a thread that ends meanwhile is not counted.
 */
export function threadKindsMeter (): () => ThreadKindsMs {
  const before = threadTicks()
  return () => {
    const out: ThreadKindsMs = { leveldb: 0, v8Helpers: 0 }
    for (const [tid, { name, ticks }] of threadTicks()) {
      const ms = (ticks - (before.get(tid)?.ticks ?? 0)) * 10
      if (name.startsWith('libuv-worker')) out.leveldb += ms
      else if (name.startsWith('V8Worker') || name.startsWith('V8 DefaultWorke')) out.v8Helpers += ms
    }
    return out
  }
}

/** Starts counting the CPU this process spends on threads other than the main one (LevelDB's, V8's GC helpers, libuv's); call the result for the ms so far. */
export function otherThreadsMeter (): () => number {
  const cpu = threadCpuMeter()
  return () => {
    const { allMs, mainMs } = cpu()
    return Math.max(0, allMs - mainMs)
  }
}

/**
 * {@link settle}, then waits (up to `maxMs`) until this process's other
 * threads use under 5 % of a core over 200 ms: a LevelDB that was just
 * written or reopened compacts on its own threads for seconds, and timing
 * reads of a "settled" store while it does measures the compaction. Returns
 * how long it waited.
 */
export async function settleQuiet (maxMs = 20_000): Promise<number> {
  await settle()
  const t0 = performance.now()
  while (performance.now() - t0 < maxMs) {
    const others = otherThreadsMeter()
    await new Promise(resolve => setTimeout(resolve, 200))
    if (others() < 10) break
  }
  return performance.now() - t0
}

/** Formats a number with thousands separators and `digits` decimals. */
export function fmt (n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n)
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** Busy and total jiffies of all CPUs from /proc/stat (Linux), or null elsewhere. */
function machineJiffies (): { busy: number, total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] ?? 0)
    const total = f.reduce((a, b) => a + b, 0)
    return { busy: total - idle, total }
  } catch {
    return null
  }
}

/** Where CPU time went during one part of the run: the whole machine, and this process (children excluded). */
export interface CpuShare {
  wallSec: number
  /** Cores kept busy on the whole machine, on average. */
  machineBusyCores: number | null
  /** Cores used by this process (without its children), on average. */
  benchCores: number
  /** Cores used by everything else: other processes (and, for the RSS part, the bench's own children). */
  otherCores: number | null
}

/** Starts measuring CPU use; call the result to stop. */
export function cpuMeter (): () => CpuShare {
  const j0 = machineJiffies()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  return () => {
    const wallSec = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    const benchCores = (c.user + c.system) / 1e6 / wallSec
    const j1 = machineJiffies()
    let machineBusyCores: number | null = null
    if (j0 != null && j1 != null && j1.total > j0.total) {
      machineBusyCores = (j1.busy - j0.busy) / (j1.total - j0.total) * cpus().length
    }
    return { wallSec, machineBusyCores, benchCores, otherCores: machineBusyCores == null ? null : Math.max(0, machineBusyCores - benchCores) }
  }
}

/** A block as a follower receives it: its CID, header bytes and page bytes by CID string. */
export interface Received { cid: CID, header: Uint8Array, pages: Map<string, Uint8Array> }

/** An encoded block's bytes, as a peer would send them. */
export function receivedOf (b: EncodedBlock): Received {
  return { cid: b.cid, header: b.header.bytes, pages: new Map([...b.txPages, ...b.receiptPages].map(p => [p.cid.toString(), p.bytes])) }
}

/** A received block rebuilt as a follower does: every header and page hashed against its CID, decoded. */
export function rebuild (r: Received, limits: CodecLimits): EncodedBlock {
  return blockFromBytes(r.cid, r.header, c => r.pages.get(c.toString()), limits)
}
