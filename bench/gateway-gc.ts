/**
 * Gateway fallback and garbage collection.
 *
 * Gateway: node A (a store holding `gwBlocks` raw blocks) serves its read API
 * with the trustless gateway on 127.0.0.1; node B (a store with gateways on,
 * network off, in this same process) reads every CID through `getBytes`,
 * which fetches, hashes against the CID and caches. Baseline: a plain
 * node:http server answering the same bytes from an in-memory Map, read with
 * `fetch()` (no verification, no store). Then B reads the same CIDs again
 * (local cache hits) against raw classic-level `getSync` of the same keys.
 *
 * GC: a store with `gcBlocks` unpinned raw blocks and `gcChainBlocks` pinned
 * chain blocks; `store.gc()` against a raw classic-level sweep (iterate every
 * entry, delete in batches of 1,000) over the same keys and bytes.
 */
import { rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { startReadApi } from '../src/api/server.ts'
import { cidOf, RAW } from '../src/codec/cid.ts'
import { createChainStore } from '../src/index.ts'
import type { ChainStore } from '../src/node/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { envInt, figure, fmt, openRaw, percentile, progress, quietLogger, rootBlockKey, settle, type Figure } from './common.ts'

/** Settings of the gatewaygc part. */
export interface GatewayGcOptions {
  /** Raw blocks node B reads through node A's gateway. */
  gwBlocks: number
  /** Bytes per gateway block. */
  gwBlockBytes: number
  /** Reads in flight in the concurrent gateway run. */
  gwInFlight: number
  /** Unpinned raw blocks GC deletes. */
  gcBlocks: number
  /** Bytes per unpinned block. */
  gcBlockBytes: number
  /** Pinned synthetic chain blocks GC must keep (50 transactions each). */
  gcChainBlocks: number
}

/** Settings from the environment. */
export function gatewayGcOptionsFromEnv (): GatewayGcOptions {
  return {
    gwBlocks: Math.max(10, envInt('BENCH_GW_BLOCKS', 2_000)),
    gwBlockBytes: 4096,
    gwInFlight: Math.max(1, envInt('BENCH_GW_IN_FLIGHT', 16)),
    gcBlocks: Math.max(1_000, envInt('BENCH_GC_BLOCKS', 100_000)),
    gcBlockBytes: 1024,
    gcChainBlocks: 200
  }
}

/** Blocks whose reads are untimed: the JIT, the HTTP connections and LevelDB warm up on them. */
const WARM_BLOCKS = 64
/** Keys per delete batch in the raw sweep (the store's GC flushes at the same count). */
const SWEEP_BATCH = 1_000
/** Blocks per `putVerifiedBlocks` call and per raw write batch when filling the GC stores. */
const FILL_BATCH = 1_000

interface Timed { ms: number, lat: Float64Array, results: Uint8Array[] }

/** Runs `fn(i)` for i in 0..n-1 with `inFlight` calls at a time; per-call latency in ms. */
async function timedPool (n: number, inFlight: number, fn: (i: number) => Promise<Uint8Array>): Promise<Timed> {
  const lat = new Float64Array(n)
  const results = new Array<Uint8Array>(n)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      const t = performance.now()
      results[i] = await fn(i)
      lat[i] = performance.now() - t
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker))
  const ms = performance.now() - t0
  return { ms, lat: lat.sort(), results }
}

function summary (t: Timed): { blocks: number, ms: number, blocksPerSec: number, p50ms: number, p99ms: number, maxMs: number } {
  const n = t.lat.length
  return { blocks: n, ms: t.ms, blocksPerSec: n / t.ms * 1000, p50ms: percentile(t.lat, 50), p99ms: percentile(t.lat, 99), maxMs: t.lat[n - 1] }
}


async function listen (server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The baseline gateway: `/ipfs/{cid}` from an in-memory Map, no store, no hashing. */
async function mapServer (bytes: Map<string, Uint8Array>): Promise<{ url: string, close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    const body = path.startsWith('/ipfs/') ? bytes.get(path.slice(6)) : undefined
    if (body == null) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': body.length })
    res.end(body)
  })
  const url = await listen(server)
  return { url, close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) } }
}

async function fetchRaw (base: string, cid: string): Promise<Uint8Array> {
  const res = await fetch(`${base}/ipfs/${cid}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw' } })
  if (!res.ok) throw new Error(`baseline server: ${res.status} for ${cid}`)
  return new Uint8Array(await res.arrayBuffer())
}

async function gatewayStore (dir: string, apiUrl: string): Promise<ChainStore> {
  return await createChainStore({ dataDir: dir, logLevel: 'warn', gateways: { enabled: true, urls: [apiUrl], timeoutMs: 5000, stallMs: 2000 } })
}

async function runGateway (root: string, opts: GatewayGcOptions): Promise<Figure[]> {
  const n = opts.gwBlocks
  progress(`gateway: node A stores ${fmt(n + WARM_BLOCKS)} raw blocks of ${fmt(opts.gwBlockBytes)} bytes (putBytes, not timed)`)
  const storeA = await createChainStore({ dataDir: join(root, 'gw-a'), logLevel: 'warn' })
  const all: Array<{ cid: CID, s: string, bytes: Uint8Array }> = []
  for (let i = 0; i < n + WARM_BLOCKS; i++) {
    const bytes = new Uint8Array(randomBytes(opts.gwBlockBytes))
    const cid = await storeA.putBytes(bytes)
    all.push({ cid, s: cid.toString(), bytes })
  }
  const warm = all.slice(n)
  const blocks = all.slice(0, n)
  const api = await startReadApi(storeA, { host: '127.0.0.1', port: 0, logger: quietLogger })
  const base = await mapServer(new Map(all.map(b => [b.s, b.bytes])))
  const stores: ChainStore[] = []
  const check = (what: string, t: Timed): void => {
    for (let i = 0; i < n; i++) if (!equals(t.results[i], blocks[i].bytes)) throw new Error(`gateway: ${what} returned wrong bytes for block ${i}`)
  }
  const measured: Record<string, ReturnType<typeof summary>> = {}
  try {
    progress(`gateway: A's read API at ${api.url}, baseline Map server at ${base.url}`)
    // baseline first: fetch() from the Map server, one at a time, then in flight
    for (const b of warm) await fetchRaw(base.url, b.s)
    await settle()
    let t = await timedPool(n, 1, async i => await fetchRaw(base.url, blocks[i].s))
    check('baseline fetch', t)
    measured.rawSeq = summary(t)
    await settle()
    t = await timedPool(n, opts.gwInFlight, async i => await fetchRaw(base.url, blocks[i].s))
    check(`baseline fetch ×${opts.gwInFlight}`, t)
    measured.rawPar = summary(t)

    // node B: a fresh store per run, so every timed first read goes to the gateway
    for (const [key, inFlight] of [['storeSeq', 1], ['storePar', opts.gwInFlight]] as const) {
      const storeB = await gatewayStore(join(root, `gw-b-${key}`), api.url)
      stores.push(storeB)
      for (const b of warm) await storeB.getBytes(b.cid)
      for (const b of blocks.slice(0, 3)) if (storeB.localBytes(b.cid) != null) throw new Error('gateway: node B holds a block before reading it')
      await settle()
      t = await timedPool(n, inFlight, async i => await storeB.getBytes(blocks[i].cid))
      check(`storeB.getBytes ×${inFlight}`, t)
      measured[key] = summary(t)
      for (const b of blocks) if (storeB.localBytes(b.cid) == null) throw new Error('gateway: node B did not cache a block it read')
      progress(`gateway: node B, ${inFlight} in flight: ${fmt(measured[key].blocksPerSec)} blocks/s, p50 ${fmt(measured[key].p50ms, 2)} ms, p99 ${fmt(measured[key].p99ms, 2)} ms`)
    }

    // second read on the first node B: every block is local now
    const storeB = stores[0]
    await settle()
    t = await timedPool(n, 1, async i => await storeB.getBytes(blocks[i].cid))
    check('second storeB.getBytes', t)
    measured.storeCached = summary(t)
    // its baseline: raw classic-level getSync of the same keys and bytes
    const rawDir = join(root, 'gw-raw')
    const db = await openRaw(rawDir)
    try {
      const keys = blocks.map(b => rootBlockKey(b.cid))
      const batch = db.batch()
      blocks.forEach((b, i) => batch.put(keys[i], b.bytes))
      await batch.write()
      for (const k of keys) db.getSync(k)
      await settle()
      t = await timedPool(n, 1, async i => db.getSync(keys[i])!)
      check('raw getSync', t)
      measured.rawCached = summary(t)
    } finally {
      await db.close()
      await rm(rawDir, { recursive: true, force: true })
    }
  } finally {
    for (const s of stores) await s.stop()
    await base.close()
    await api.close()
    await storeA.stop()
    for (const d of ['gw-a', 'gw-b-storeSeq', 'gw-b-storePar']) await rm(join(root, d), { recursive: true, force: true })
  }
  for (const [k, m] of Object.entries(measured)) progress(`gateway ${k}: ${fmt(m.blocks)} blocks in ${fmt(m.ms)} ms, ${fmt(m.blocksPerSec)} blocks/s, p50 ${fmt(m.p50ms, 3)} ms, p99 ${fmt(m.p99ms, 3)} ms`)

  const group = `gateway fallback: node B reads ${fmt(n)} × ${fmt(opts.gwBlockBytes / 1024)} KiB raw blocks from node A's trustless gateway (127.0.0.1, one process)`
  const figures: Figure[] = []
  for (const [key, raw, inFlight] of [['storeSeq', 'rawSeq', 1], ['storePar', 'rawPar', opts.gwInFlight]] as const) {
    const m = measured[key]
    const r = measured[raw]
    const tag = inFlight === 1 ? 'seq' : `inFlight${inFlight}`
    const rawLabel = `fetch() from a node:http Map server, ${inFlight} in flight`
    figures.push(figure({ id: `gateway.${tag}.blocksPerSec`, group, label: `getBytes first read (gateway, verify, cache), ${inFlight} in flight`, unit: 'blocks/s', value: m.blocksPerSec, better: 'higher', baseline: { label: rawLabel, value: r.blocksPerSec }, detail: { store: m, raw: r } }))
    figures.push(figure({ id: `gateway.${tag}.p50ms`, group, label: '  p50 per block', unit: 'ms', value: m.p50ms, better: 'lower', baseline: { label: rawLabel, value: r.p50ms } }))
    figures.push(figure({ id: `gateway.${tag}.p99ms`, group, label: '  p99 per block', unit: 'ms', value: m.p99ms, better: 'lower', baseline: { label: rawLabel, value: r.p99ms } }))
  }
  const c = measured.storeCached
  figures.push(figure({ id: 'gateway.secondRead.blocksPerSec', group, label: 'getBytes second read (local cache hit), 1 in flight', unit: 'blocks/s', value: c.blocksPerSec, better: 'higher', baseline: { label: 'raw classic-level getSync, same keys', value: measured.rawCached.blocksPerSec }, detail: { store: c, raw: measured.rawCached, speedupOverFirstRead: c.blocksPerSec / measured.storeSeq.blocksPerSec } }))
  return figures
}

/** Deterministic pseudo-random bytes of unpinned block `i` (xorshift32 seeded by i), so the raw sweep gets the very same keys and values. */
function gcBlockBytes (i: number, size: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = (i + 1) * 2654435761 >>> 0 || 1
  for (let j = 0; j < words.length; j++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    words[j] = x
  }
  words[0] = i // unique even if two seeds collided
  return new Uint8Array(words.buffer, 0, size)
}

/** Batch `b` of the unpinned blocks, with CIDs. */
function gcBatch (b: number, opts: GatewayGcOptions): Array<{ cid: CID, bytes: Uint8Array }> {
  const out: Array<{ cid: CID, bytes: Uint8Array }> = []
  for (let i = b * FILL_BATCH; i < Math.min(opts.gcBlocks, (b + 1) * FILL_BATCH); i++) {
    const bytes = gcBlockBytes(i, opts.gcBlockBytes)
    out.push({ cid: cidOf(bytes, RAW), bytes })
  }
  return out
}

async function runGc (root: string, opts: GatewayGcOptions): Promise<Figure[]> {
  const batches = Math.ceil(opts.gcBlocks / FILL_BATCH)

  // raw baseline first, on its own: fill, sweep, close, remove (no background compaction of one run overlaps the other)
  progress(`gc: raw classic-level gets ${fmt(opts.gcBlocks)} keys of ${fmt(opts.gcBlockBytes)} bytes in batches of ${fmt(FILL_BATCH)} (not timed)`)
  const rawDir = join(root, 'gc-raw')
  let raw: { scanned: number, deleted: number, bytesFreed: number, ms: number }
  const db = await openRaw(rawDir)
  try {
    for (let b = 0; b < batches; b++) {
      const batch = db.batch()
      for (const { cid, bytes } of gcBatch(b, opts)) batch.put(rootBlockKey(cid), bytes)
      await batch.write()
    }
    await settle()
    progress('gc: raw sweep (iterate every entry, delete in batches of 1,000)')
    const t0 = performance.now()
    let scanned = 0
    let bytesFreed = 0
    let batch = db.batch()
    for await (const [key, value] of db.iterator()) {
      scanned++
      bytesFreed += value.length
      batch.del(key)
      if (batch.length >= SWEEP_BATCH) { await batch.write(); batch = db.batch() }
    }
    if (batch.length > 0) await batch.write(); else await batch.close()
    raw = { scanned, deleted: scanned, bytesFreed, ms: performance.now() - t0 }
    let left = 0
    for await (const _ of db.keys()) left++
    if (left !== 0 || scanned !== opts.gcBlocks) throw new Error(`gc: raw sweep saw ${scanned} keys and left ${left}`)
  } finally {
    await db.close()
    await rm(rawDir, { recursive: true, force: true })
  }
  progress(`gc raw: ${fmt(raw.scanned)} keys in ${fmt(raw.ms)} ms`)

  progress(`gc: store gets ${fmt(opts.gcBlocks)} unpinned blocks (putVerifiedBlocks × ${fmt(FILL_BATCH)}) and ${opts.gcChainBlocks} pinned chain blocks (not timed)`)
  const dir = join(root, 'gc-store')
  const store = await createChainStore({ dataDir: dir, logLevel: 'warn' })
  let s: Awaited<ReturnType<ChainStore['gc']>>
  let chainIpldBlocks = 0
  try {
    for (let b = 0; b < batches; b++) await store.putVerifiedBlocks(gcBatch(b, opts))
    const stored = await store.storeBlocks(new SyntheticChain({ txsPerBlock: 50 }).take(opts.gcChainBlocks, store.config.limits))
    for (const b of stored) chainIpldBlocks += store.blockDag(b.cid).length
    await settle()
    progress('gc: store.gc()')
    const t0 = performance.now()
    s = await store.gc()
    const wallMs = performance.now() - t0
    progress(`gc store: scanned ${fmt(s.scanned)}, marked ${fmt(s.marked)}, deleted ${fmt(s.deleted)}, ${fmt(s.bytesFreed)} bytes freed, incomplete pins ${s.incompletePins}, ${fmt(s.ms)} ms (call: ${fmt(wallMs)} ms)`)
    if (s.deleted !== opts.gcBlocks) throw new Error(`gc: deleted ${s.deleted} blocks, expected ${opts.gcBlocks}`)
    if (s.incompletePins !== 0) throw new Error(`gc: ${s.incompletePins} incomplete pins`)
    for (let h = 0; h < opts.gcChainBlocks; h++) {
      const block = await store.getBlock(h)
      if (block.header.height !== h || block.transactions.length !== 50) throw new Error(`gc: getBlock(${h}) returned height ${block.header.height} with ${block.transactions.length} txs`)
    }
    for (const b of gcBatch(0, opts).slice(0, 10)) if (store.localBytes(b.cid) != null) throw new Error('gc: an unpinned block survived')
    s = { ...s, ms: wallMs }
  } finally {
    await store.stop()
    await rm(dir, { recursive: true, force: true })
  }

  const group = `GC: ${fmt(opts.gcBlocks)} unpinned ${fmt(opts.gcBlockBytes / 1024)} KiB blocks + ${opts.gcChainBlocks} pinned chain blocks (${fmt(chainIpldBlocks)} IPLD blocks)`
  const rawLabel = `raw classic-level: iterate ${fmt(opts.gcBlocks)} entries, delete × ${fmt(SWEEP_BATCH)}`
  const detail = { store: s, raw, chainIpldBlocks, chainBlocksReadAfterGc: opts.gcChainBlocks }
  return [
    figure({ id: 'gc.ms', group, label: 'store.gc() (mark + sweep)', unit: 'ms', value: s.ms, better: 'lower', baseline: { label: rawLabel, value: raw.ms }, detail }),
    figure({ id: 'gc.scannedPerSec', group, label: '  blocks scanned/s', unit: 'blocks/s', value: s.scanned / s.ms * 1000, better: 'higher', baseline: { label: rawLabel, value: raw.scanned / raw.ms * 1000 } }),
    figure({ id: 'gc.deletedPerSec', group, label: '  blocks deleted/s', unit: 'blocks/s', value: s.deleted / s.ms * 1000, better: 'higher', baseline: { label: rawLabel, value: raw.deleted / raw.ms * 1000 } }),
    figure({ id: 'gc.bytesFreed', group, label: '  bytes freed (block bytes)', unit: 'MiB', value: s.bytesFreed / 2 ** 20, better: 'higher', baseline: { label: 'raw: value bytes deleted', value: raw.bytesFreed / 2 ** 20 } })
  ]
}

/** Runs the gatewaygc part: gateway fallback, then GC. */
export async function runGatewayGc (root: string, opts: GatewayGcOptions): Promise<Figure[]> {
  return [...await runGateway(root, opts), ...await runGc(root, opts)]
}
