import { base32upper } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { equals } from 'uint8arrays/equals'
import { RAW, cidFromDigest } from '../codec/cid.ts'
import { decodeHeader } from '../codec/decode.ts'
import { readableLinks, walkDag } from '../codec/walk.ts'
import { bytesMatchCid } from '../codec/cid.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { mhKey, openView, type StoreView } from '../backup/read-store.ts'
import { decodeHead } from '../chain/meta.ts'
import { logBlockCount, logBlockKey, logBlockRow, openLogBlock } from '../indexes/postings.ts'
import { decodeWindow, payloadBytes } from '../indexes/windows.ts'
import { TX_RECORD_HEAD, decodeBlockRecord, decodeLogRecord, decodeTxRecord, openRecord } from '../indexes/records.ts'
import { decodePinValue, type PinRecord } from '../pinning/records.ts'
import { heightOfRootKey } from '../state/keys.ts'
import { META_HEAD, PREFIX, blockKey, blockTxIdsKey, digestKey, prefixRange, readU32, readU64 } from '../storage/keys.ts'
import type { BlocksDb, RootDb } from '../storage/level.ts'
import { describeLogDamage, readLogDamage } from '../storage/damage.ts'
import type { Finding, FindingKind, IntegrityProgress } from './types.ts'

/** Emit progress every this many items. */
const PROGRESS_EVERY = 1000
/** Transaction ids held in memory to check address and log entries (past it, each check reads LevelDB). */
const TX_ID_SET_MAX = 4_000_000

/** What one pass over a store found, and what a repair needs to know. */
export interface CheckResult {
  findings: Finding[]
  counts: Partial<Record<FindingKind, number>>
  blocks: number
  bytes: number
  heights: number
  pins: number
  /** Blocks to fetch back, by multihash key (with the best CID known for each). */
  refetch: Map<string, CID>
  /** Blocks-sublevel keys whose bytes are corrupt or unreadable (deleted before the refetch). */
  badKeys: Set<string>
  /** Root-keyspace index entries that point at nothing (deleted by the repair). */
  dangling: Uint8Array[]
  /** The canonical index needs rebuilding from blocks. */
  reindex: boolean
  /** The head disagrees with the height index. */
  headWrong: boolean
  /** Stored blocks missing from the height index below a canonical block that links them (reindexed by the repair). */
  holes: CID[]
  /** Canonical blocks lost below the head (neither indexed nor stored): the header CID at the top of each gap and the gap's lowest height. */
  lost: Array<{ cid: CID, height: number, from: number }>
  /** The store holds a log-damage mark (LevelDB dropped log records at an open). */
  logDamage: boolean
  /** Header digest by canonical height (latin1), for checking transaction records without a read each. */
  canonical: Map<number, string>
}

/** The CID a blocks-sublevel key names (raw codec: the key holds only the multihash). */
export function cidOfBlockKey (key: string): CID {
  return CID.createV1(RAW, Digest.decode(base32upper.decoder.decode(key.slice(1))))
}

/**
 * Reads a store (one LevelDB snapshot) and lists what is wrong: blocks
 * that do not hash to their CID or cannot be read, index entries that point
 * at nothing or at the wrong thing, pinned DAGs with a block missing, a head
 * that disagrees with the height index, a state root at head with missing
 * trie nodes. LevelDB errors become findings; the scan goes on where it can.
 */
export async function checkStore (db: RootDb, blocksDb: BlocksDb, options: { onProgress?: IntegrityProgress, signal?: AbortSignal, maxFindings?: number, allowGaps?: boolean } = {}): Promise<CheckResult> {
  const view = openView(db, blocksDb)
  const max = options.maxFindings ?? 1000
  const r: CheckResult = { findings: [], counts: {}, blocks: 0, bytes: 0, heights: 0, pins: 0, refetch: new Map(), badKeys: new Set(), dangling: [], reindex: false, headWrong: false, holes: [], lost: [], logDamage: false, canonical: new Map() }
  const find = (f: Finding): void => {
    r.counts[f.kind] = (r.counts[f.kind] ?? 0) + 1
    if (r.findings.length < max) r.findings.push(f)
  }
  const wantBlock = (cid: CID): void => { r.refetch.set(mhKey(cid), cid) }
  /** A block's bytes, or undefined; a read error is a finding. */
  const read = (cid: CID): Uint8Array | undefined => {
    const key = blockKey(cid)
    if (r.badKeys.has(key)) return undefined
    try {
      return view.block(key)
    } catch (err) {
      r.badKeys.add(key)
      wantBlock(cid)
      find({ kind: 'unreadable', cid: cid.toString(), message: `block ${cid.toString()} cannot be read: ${(err as Error).message}` })
      return undefined
    }
  }
  const get = (key: Uint8Array): Uint8Array | undefined => {
    try { return view.get(key) } catch (err) {
      find({ kind: 'storage-corruption', message: `index entry 0x${Buffer.from(key).toString('hex').slice(0, 40)} cannot be read: ${(err as Error).message}` })
      r.reindex = true
      return undefined
    }
  }
  const damage = readLogDamage({ getSync: (key: Uint8Array) => get(key) } as any)
  if (damage != null) {
    r.logDamage = true
    find({ kind: 'lost-writes', message: `${describeLogDamage(damage)}; they cannot be rebuilt from this store (peers resend what they hold); repair clears the mark so local writes resume` })
  }
  try {
    await scanBlocks(view, r, find, wantBlock, options)
    await scanChain(view, r, find, read, get, wantBlock, options)
    await scanIndexes(view, r, find, get, options)
    await scanPins(view, r, find, read, wantBlock, options)
    await scanState(view, r, find, read, wantBlock)
  } finally {
    await view.close()
  }
  return r
}

type Find = (f: Finding) => void

/** Iterates a range; a LevelDB error (corruption) ends it with a finding instead of a throw. */
async function * safeIterate (view: StoreView, range: Parameters<StoreView['iterator']>[0], what: string, find: Find): AsyncGenerator<[Uint8Array, Uint8Array]> {
  try {
    for await (const entry of view.iterator(range)) yield entry
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    find({ kind: 'storage-corruption', message: `LevelDB reported an error reading ${what}: ${(err as Error).message}; the rest of that range was not checked` })
  }
}

async function scanBlocks (view: StoreView, r: CheckResult, find: Find, want: (cid: CID) => void, options: { onProgress?: IntegrityProgress, signal?: AbortSignal, allowGaps?: boolean }): Promise<void> {
  let total: number | undefined
  if (options.onProgress != null) {
    total = 0
    try { for await (const _ of view.blocks.keys(view.readOptions as any)) total++ } catch { total = undefined }
  }
  try {
    for await (const [key, bytes] of view.blocks.iterator(view.readOptions as any)) {
      options.signal?.throwIfAborted()
      r.blocks++
      r.bytes += bytes.length
      let cid: CID
      try { cid = cidOfBlockKey(key) } catch {
        find({ kind: 'corrupt-block', message: `blockstore key ${key.slice(0, 60)} is not a multihash` })
        continue
      }
      if (!bytesMatchCid(cid, bytes)) {
        r.badKeys.add(key)
        want(cid)
        find({ kind: 'corrupt-block', cid: cid.toString(), message: `block ${cid.toString()}: ${bytes.length} bytes that do not hash to its CID` })
      }
      if (r.blocks % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'blocks', done: r.blocks, total })
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    find({ kind: 'storage-corruption', message: `LevelDB reported an error reading the blockstore after ${r.blocks} blocks: ${(err as Error).message}` })
  }
  options.onProgress?.({ phase: 'blocks', done: r.blocks, total: total ?? r.blocks })
}

async function scanChain (view: StoreView, r: CheckResult, find: Find, read: (cid: CID) => Uint8Array | undefined, get: (k: Uint8Array) => Uint8Array | undefined, want: (cid: CID) => void, options: { onProgress?: IntegrityProgress, signal?: AbortSignal, allowGaps?: boolean }): Promise<void> {
  r.canonical.clear()
  let prev: { height: number, cid: CID } | undefined
  let top: { height: number, cid: CID } | undefined
  for await (const [key, value] of safeIterate(view, prefixRange(Uint8Array.of(PREFIX.HEIGHT)), 'the height index', find)) {
    options.signal?.throwIfAborted()
    const height = readU64(key, 1)
    const cid = CID.decode(value)
    r.heights++
    r.canonical.set(height, Buffer.from(cid.multihash.digest).toString('latin1'))
    top = { height, cid }
    const at = { cid: cid.toString(), height }
    const record = get(digestKey(PREFIX.BLOCK, cid.multihash.digest))
    if (record == null || decodeBlockRecord(record).height !== height) { r.reindex = true; find({ kind: 'missing-index', ...at, message: `height ${height}: block ${cid.toString()} has no block record (or one at another height)` }) }
    const pin = pinOf(view, cid)
    const chainPinned = pin?.reasons.includes('chain') === true && pin.state === 'pinned'
    const header = read(cid)
    if (header == null) {
      if (chainPinned || r.badKeys.has(blockKey(cid))) { want(cid); if (!r.badKeys.has(blockKey(cid))) find({ kind: 'missing-block', ...at, message: `height ${height}: the header ${cid.toString()} is pinned but not stored` }) }
      prev = { height, cid }
      continue
    }
    if (r.badKeys.has(blockKey(cid))) { prev = { height, cid }; continue }
    let h
    try { h = decodeHeader(header) } catch { prev = { height, cid }; continue }
    if (h.height !== height) { r.reindex = true; find({ kind: 'index-mismatch', ...at, message: `height ${height} names ${cid.toString()}, a header of height ${h.height}` }) }
    if (height > 0 && h.parent != null && (prev == null || prev.height !== height - 1)) {
      // a hole in the height index: the parent is stored (it has a block record) but no height names it
      const parentRecord = get(digestKey(PREFIX.BLOCK, h.parent.multihash.digest))
      if (parentRecord != null) {
        r.holes.push(h.parent)
        r.reindex = true
        find({ kind: 'missing-index', height: height - 1, cid: h.parent.toString(), message: `height ${height - 1} is missing from the height index; its block ${h.parent.toString()} is stored` })
      } else if (!options.allowGaps) {
        // neither indexed nor stored: acknowledged blocks lost below the head (a damaged log); peers can refill them
        const from = prev == null ? 0 : prev.height + 1
        r.lost.push({ cid: h.parent, height: height - 1, from })
        find({ kind: 'missing-height', height: height - 1, cid: h.parent.toString(), message: `heights ${from}..${height - 1} are missing below the head and their blocks are not stored (block ${h.parent.toString()} at ${height - 1} among them); fetch them from peers` })
      }
    }
    if (prev != null && prev.height === height - 1 && (h.parent == null || !h.parent.equals(prev.cid))) {
      find({ kind: 'index-mismatch', ...at, message: `height ${height}: its header links parent ${String(h.parent)}, the index has ${prev.cid.toString()} at ${height - 1}` })
    }
    const deep = chainPinned && (pin!.deep ?? (pin!.recursive ? pin!.reasons : [])).includes('chain')
    if (deep) {
      for (const p of [...h.txPages, ...h.receiptPages]) {
        if (read(p) == null && !r.badKeys.has(blockKey(p))) { want(p); find({ kind: 'missing-block', ...at, cid: p.toString(), message: `height ${height}: page ${p.toString()} of a pinned block is not stored` }) } else if (r.badKeys.has(blockKey(p))) want(p)
      }
    }
    const sealed = get(blockTxIdsKey(height))
    let ids: Uint8Array | undefined
    try { ids = sealed == null ? undefined : openRecord(sealed, 'id list') } catch {
      r.reindex = true
      find({ kind: 'corrupt-record', ...at, message: `height ${height}: the block's transaction id list fails its checksum (damaged on disk)` })
    }
    if (sealed != null && ids == null) {
      // reported above
    } else if (ids == null || ids.length !== h.txCount * 32) {
      r.reindex = true
      find({ kind: 'missing-index', ...at, message: `height ${height}: the block's transaction id list is missing or has the wrong length` })
    } else {
      for (let i = 0; i < h.txCount; i++) {
        const digest = ids.subarray(i * 32, i * 32 + 32)
        const tx = get(digestKey(PREFIX.TX, digest))
        if (tx == null) { r.reindex = true; find({ kind: 'missing-index', ...at, message: `height ${height}: transaction ${cidFromDigest(digest).toString()} has no transaction record` }); continue }
        if (tx.length < 32 || !equals(tx.subarray(0, 32), cid.multihash.digest)) { r.reindex = true; find({ kind: 'index-mismatch', ...at, message: `transaction ${cidFromDigest(digest).toString()}: its record names another block` }) }
      }
    }
    prev = { height, cid }
    if (r.heights % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'chain', done: r.heights })
  }
  const head = decodeHead(get(META_HEAD))
  if ((top == null) !== (head == null) || (top != null && head != null && (top.height !== head.height || !top.cid.equals(head.cid)))) {
    r.headWrong = true
    find({ kind: 'head-mismatch', message: `the head is ${head == null ? 'empty' : `${head.height} ${head.cid.toString()}`}, the height index ends at ${top == null ? 'nothing' : `${top.height} ${top.cid.toString()}`}` })
  }
  options.onProgress?.({ phase: 'chain', done: r.heights, total: r.heights })
}

function pinOf (view: StoreView, cid: CID): PinRecord | undefined {
  const bytes = view.get(Uint8Array.of(PREFIX.PIN, ...cid.bytes))
  return bytes == null ? undefined : decodePinValue(cid, bytes)
}

/** Address history, logs and transaction records: each points at something present and canonical. */
async function scanIndexes (view: StoreView, r: CheckResult, find: Find, get: (k: Uint8Array) => Uint8Array | undefined, options: { signal?: AbortSignal }): Promise<void> {
  // transaction records first: their ids, while few enough to hold, answer the address and log checks without a read each
  let ids: Set<string> | undefined = new Set()
  for await (const [key, value] of safeIterate(view, prefixRange(Uint8Array.of(PREFIX.TX)), 'transaction records', find)) {
    options.signal?.throwIfAborted()
    if (ids != null) ids = ids.size < TX_ID_SET_MAX ? ids.add(Buffer.from(key.buffer, key.byteOffset + 1, 32).toString('latin1')) : undefined
    if (value.length <= TX_RECORD_HEAD) { r.dangling.push(key); r.reindex = true; find({ kind: 'dangling-index', message: `transaction record ${cidFromDigest(key.subarray(1)).toString()} does not decode` }); continue }
    const height = readU64(value, 96)
    let txBytes: Uint8Array | undefined
    try { txBytes = decodeTxRecord(value).txBytes } catch {}
    if (txBytes == null || !bytesMatchCid(cidFromDigest(key.subarray(1)), txBytes)) {
      r.dangling.push(key)
      r.reindex = true
      find({ kind: 'corrupt-record', height, cid: cidFromDigest(key.subarray(1)).toString(), message: `transaction ${cidFromDigest(key.subarray(1)).toString()}: the record's bytes do not hash to its id` })
      continue
    }
    const at = r.canonical.get(height)
    if (at == null || at !== Buffer.from(value.buffer, value.byteOffset, 32).toString('latin1')) {
      r.dangling.push(key)
      r.reindex = true
      find({ kind: 'dangling-index', height, cid: cidFromDigest(key.subarray(1)).toString(), message: `transaction ${cidFromDigest(key.subarray(1)).toString()}: its block ${cidFromDigest(value.slice(0, 32)).toString()} is not canonical at height ${height}` })
    }
  }
  const txExists = (digest: Uint8Array): boolean => ids != null ? ids.has(Buffer.from(digest.buffer, digest.byteOffset, 32).toString('latin1')) : get(digestKey(PREFIX.TX, digest)) != null
  const dangling = (key: Uint8Array, height: number, message: string): void => { r.dangling.push(key); r.reindex = true; find({ kind: 'dangling-index', height, message }) }
  for await (const [key, value] of safeIterate(view, prefixRange(Uint8Array.of(PREFIX.ADDRESS_WINDOW)), 'address history', find)) {
    options.signal?.throwIfAborted()
    const start = readU64(key, 21)
    let bad: string | undefined
    let height = start
    try {
      const missing = decodeWindow(value, payloadBytes(PREFIX.ADDRESS_WINDOW)).find(r => !txExists(r.payload.subarray(4, 36)))
      if (missing != null) { height = missing.height; bad = `points at transaction ${cidFromDigest(missing.payload.slice(4, 36)).toString()}, which has no record` }
    } catch (err) { bad = err instanceof CorruptDataError ? `is damaged (${err.message})` : 'does not decode' }
    if (bad != null) dangling(key, height, `address history window from height ${start} ${bad}`)
  }
  for await (const [key, value] of safeIterate(view, prefixRange(Uint8Array.of(PREFIX.LOG_BLOCK)), 'the log index', find)) {
    options.signal?.throwIfAborted()
    const height = readU64(key, 1)
    let bad: string | undefined
    try {
      const logs = openLogBlock(value)
      for (let i = 0; i < logBlockCount(logs) && bad == null; i++) {
        const digest = decodeLogRecord(logBlockRow(logs, i).record).txDigest
        if (!txExists(digest)) bad = `points at transaction ${cidFromDigest(digest).toString()}, which has no record`
      }
    } catch (err) { bad = err instanceof CorruptDataError ? `is damaged (${err.message})` : 'does not decode' }
    if (bad != null) dangling(key, height, `log record of height ${height} ${bad}`)
  }
  for (const [prefix, heightAt, what] of [[PREFIX.LOG_ADDRESS_WINDOW, 21, 'log address'], [PREFIX.LOG_TOPIC_WINDOW, 34, 'log topic']] as const) {
    for await (const [key, value] of safeIterate(view, prefixRange(Uint8Array.of(prefix)), `the ${what} index`, find)) {
      options.signal?.throwIfAborted()
      const start = readU64(key, heightAt)
      let height = start
      let ok = false
      try {
        const counts = new Map<number, number>()
        ok = decodeWindow(value, payloadBytes(prefix)).every(r => {
          height = r.height
          let n = counts.get(r.height)
          if (n == null) {
            const logs = get(logBlockKey(r.height))
            n = logs == null ? -1 : logBlockCount(openLogBlock(logs))
            counts.set(r.height, n)
          }
          return readU32(r.payload, 0) < n
        })
      } catch {}
      if (!ok) dangling(key, height, `${what} window from height ${start} names a log its block's log record does not hold`)
    }
  }
}

/** Every pinned DAG (state `pinned`) is whole: chain pins hold header (and pages), other deep pins their whole DAG. */
async function scanPins (view: StoreView, r: CheckResult, find: Find, read: (cid: CID) => Uint8Array | undefined, want: (cid: CID) => void, options: { onProgress?: IntegrityProgress, signal?: AbortSignal, allowGaps?: boolean }): Promise<void> {
  const expanded = new Set<string>()
  for await (const [key, value] of safeIterate(view, prefixRange(Uint8Array.of(PREFIX.PIN)), 'pin records', find)) {
    options.signal?.throwIfAborted()
    const pin = decodePinValue(CID.decode(key.subarray(1)), value)
    if (pin.state !== 'pinned') continue
    r.pins++
    const deep = pin.deep ?? (pin.recursive ? pin.reasons : [])
    // chain pins are checked with the chain (header and pages, not the parent); other reasons walk their DAG
    const walk = deep.some(x => x !== 'chain')
    if (pin.reasons.every(x => x === 'chain')) continue
    const missing = await missingUnder(pin.cid, walk, expanded, read, want)
    const absent = missing.filter(c => !r.badKeys.has(blockKey(c)))
    if (absent.length > 0) find({ kind: 'incomplete-pin', cid: pin.cid.toString(), message: `pin ${pin.cid.toString()} (${pin.reasons.join(',')}): ${absent.length} block(s) missing, first ${absent[0].toString()}` })
    if (r.pins % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'pins', done: r.pins })
  }
}

/** The state root at the state's head and every trie node under it. */
async function scanState (view: StoreView, r: CheckResult, find: Find, read: (cid: CID) => Uint8Array | undefined, want: (cid: CID) => void): Promise<void> {
  let head: { height: number, root: CID } | undefined
  for await (const [key, value] of safeIterate(view, { ...prefixRange(Uint8Array.of(PREFIX.STATE_ROOT)) }, 'state roots', find)) head = { height: heightOfRootKey(key), root: CID.decode(value) }
  if (head == null) return
  const missing = await missingUnder(head.root, true, new Set(), read, want)
  if (missing.length > 0) find({ kind: 'missing-state-node', height: head.height, cid: missing[0].toString(), message: `state root ${head.root.toString()} at height ${head.height}: ${missing.length} trie node(s) missing or corrupt, first ${missing[0].toString()}` })
}

/**
 * The blocks under `root` (the root only, unless `deep`) that are not stored
 * here or are known bad, each passed to `want`; read through local reads only.
 * `expanded` holds blocks whose links were already followed, shared between
 * walks so a common subtree is walked once; missing blocks never enter it, so
 * every walk that reaches one reports it.
 */
async function missingUnder (root: CID, deep: boolean, expanded: Set<string>, read: (cid: CID) => Uint8Array | undefined, want: (cid: CID) => void): Promise<CID[]> {
  const missing: CID[] = []
  // a block that does not decode has no links to follow
  const links = (cid: CID, bytes: Uint8Array): CID[] => { try { return readableLinks(cid, bytes) } catch { return [] } }
  for await (const { cid, bytes } of walkDag(root, read, { key: mhKey, expanded, reportMissing: true, maxDepth: deep ? Infinity : 0, links })) {
    if (bytes == null) { missing.push(cid); want(cid) }
  }
  return missing
}
