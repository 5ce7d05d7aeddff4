/**
 * Checks a store reopened after a crash: every acknowledged write is present,
 * every stored byte hashes to its CID, and nothing is half-written (no index
 * entry, record or height past the head, no hole below it). Problems come back
 * as lists rather than thrown assertions so that a run of many crash cycles can
 * report totals.
 */
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { ClassicLevel } from 'classic-level'
import { base32upper } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'
import { bytesMatchCid, SHA2_256 } from '../../src/codec/cid.ts'
import { encodeBlock } from '../../src/codec/encode.ts'
import type { CodecLimits } from '../../src/codec/types.ts'
import { decodeBlockRecord, decodeTxRecord } from '../../src/indexes/records.ts'
import { logBlockCount } from '../../src/indexes/postings.ts'
import { decodeWindow, payloadBytes } from '../../src/indexes/windows.ts'
import type { ChainStore } from '../../src/index.ts'
import { BLOCKS_SUBLEVEL, META_HEAD, PREFIX, readU64 } from '../../src/storage/keys.ts'
import { LEVEL_DIR } from '../../src/storage/level.ts'
import { SyntheticChain, type SyntheticOptions } from '../../src/synthetic/chain.ts'
import { CID } from 'multiformats/cid'

/** Arguments the parent passes as one JSON argv entry. */
export interface CrashWriterArgs {
  dataDir: string
  durability: 'process' | 'power'
  /** Seed of the synthetic chain (the parent regenerates the same chain). */
  seed: number
  txsPerBlock: [number, number]
  addresses: number
  dataBytes: number
  /** Blocks per storeBlocks call: 1..batchMax, chosen at random. */
  batchMax: number
  /** Hold mode: write this many blocks, then wait for stdin commands. */
  hold?: number
}

/** Namespaces the writer's kv entries go to: one entry per block, and an overwritten progress entry. */
export const KV_BLOCKS = 'crash-blocks'
export const KV_META = 'crash-meta'

/** What the verifier expects of one transaction (from the regenerated chain). */
interface ExpectedTx { id: string, from: string, to: string | null, status: number, gasUsed: number }

/**
 * The chain the writer produces, regenerated in the parent from the same seed
 * and extended lazily, so the store's blocks can be compared with what was
 * written, not only with themselves.
 */
export class ExpectedChain {
  readonly #chain: SyntheticChain
  readonly #limits: CodecLimits
  readonly cids: string[] = []
  readonly txs: ExpectedTx[][] = []

  constructor (options: SyntheticOptions, limits: CodecLimits) {
    this.#chain = new SyntheticChain(options)
    this.#limits = limits
  }

  get addresses (): string[] { return this.#chain.addresses }

  /** Makes sure heights 0..height are generated. */
  upTo (height: number): void {
    while (this.#chain.height <= height) {
      const input = this.#chain.next(this.#limits)
      const enc = encodeBlock(input, this.#limits)
      this.cids.push(enc.cid.toString())
      this.txs.push(input.transactions.map((tx, i) => ({
        id: enc.txs[i].id.toString(),
        from: tx.from.toLowerCase(),
        to: tx.to?.toLowerCase() ?? null,
        status: input.receipts![i].status,
        gasUsed: input.receipts![i].gasUsed
      })))
    }
  }
}

/** Every write the writer acknowledged, across the cycles of one data dir. */
export interface Ledger {
  blocks: Map<number, { cid: string, txIds: string[] }>
  /** Acknowledged entries of the per-block kv namespace. */
  kv: Map<string, unknown>
  /** Highest acknowledged `progress` height in the meta namespace (-1: none). */
  progress: number
}

export function newLedger (): Ledger {
  return { blocks: new Map(), kv: new Map(), progress: -1 }
}

/** Findings of one verification. Keys identify an item so that repeats across cycles count once. */
export interface Findings {
  /** Acknowledged writes that are missing or different. */
  lost: string[]
  /** Bytes that do not hash to their CID, holes, half-indexed entries, undecodable records. */
  corrupt: string[]
  /** Figures of what was checked. */
  checked: { blocks: number, txs: number, pages: number, kv: number, historyEntries: number }
}

function describeError (err: unknown): string {
  const e = err as Error
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`
}

/**
 * Verifies a store opened on a crashed data dir through its public API:
 * heights 0..head all present, equal to the expected chain, with headers and
 * pages that hash to their CIDs, every transaction and receipt readable and in
 * its sender's and recipient's history; nothing past the head; every
 * acknowledged block, transaction and kv entry present.
 */
export async function verifyStore (store: ChainStore, expected: ExpectedChain, ledger: Ledger, kvNamespaces: { blocks: string, meta: string }): Promise<Findings> {
  const lost: string[] = []
  const corrupt: string[] = []
  const checked = { blocks: 0, txs: 0, pages: 0, kv: 0, historyEntries: 0 }
  const head = store.head()
  const headHeight = head?.height ?? -1
  expected.upTo(headHeight)

  // every height from 0 to the head: a whole, hash-valid, fully indexed block
  const okBlocks = new Map<number, string>() // heights whose block passed every check below
  const storedTxs = new Map<string, { from: string, to: string | null }>() // readable, correct transactions
  for (let h = 0; h <= headHeight; h++) {
    const want = expected.cids[h]
    let block
    try {
      block = await store.getBlock(h)
    } catch (err) {
      // reads re-hash what they take from disk: damaged bytes are refused, naming the block they belong to
      const damaged = (err as Error).name === 'CorruptDataError' ? (err as { cid?: string }).cid : undefined
      if (damaged != null) corrupt.push(`block ${h}: bytes of ${damaged} do not hash to it (refused by the store)`)
      else corrupt.push(`block ${h}: below head ${headHeight} but unreadable (${describeError(err)})`)
      continue
    }
    checked.blocks++
    const before = corrupt.length
    const cid = block.cid.toString()
    if (cid !== want) corrupt.push(`block ${h}: stored ${cid}, the chain has ${want}`)
    if (h === headHeight && cid !== head!.cid.toString()) corrupt.push(`head says ${head!.cid.toString()} at ${h}, height index says ${cid}`)
    if (block.header.height !== h) corrupt.push(`block ${h}: header says height ${block.header.height}`)
    if (h > 0 && block.header.parent?.toString() !== expected.cids[h - 1]) corrupt.push(`block ${h}: parent ${String(block.header.parent)} is not block ${h - 1}`)
    if (block.header.receiptPages.length !== block.header.txPages.length) corrupt.push(`block ${h}: ${block.header.txPages.length} tx pages, ${block.header.receiptPages.length} receipt pages`)
    for (const c of [block.cid, ...block.header.txPages, ...block.header.receiptPages]) {
      try {
        const bytes = await store.getBytes(c)
        checked.pages++
        if (!bytesMatchCid(c, bytes)) corrupt.push(`block ${h}: bytes of ${c.toString()} do not hash to it`)
      } catch (err) {
        // the store re-hashes local reads itself: damage is refused as CorruptDataError
        if ((err as Error).name === 'CorruptDataError') corrupt.push(`block ${h}: bytes of ${c.toString()} do not hash to it (refused by the store)`)
        else corrupt.push(`block ${h}: bytes of ${c.toString()} unreadable (${describeError(err)})`)
      }
    }
    const wantTxs = expected.txs[h]
    if (!isDeepStrictEqual(block.txIds.map(String), wantTxs.map(t => t.id))) corrupt.push(`block ${h}: transaction ids differ from the chain's`)
    for (let i = 0; i < wantTxs.length; i++) {
      const want = wantTxs[i]
      try {
        const tx = await store.getTransaction(want.id)
        const r = await store.getReceipt(want.id)
        checked.txs++
        const txBefore = corrupt.length
        if (tx.height !== h || tx.index !== i || !tx.blockCid.equals(block.cid)) corrupt.push(`tx ${want.id}: record says height ${tx.height} index ${tx.index}, expected ${h}/${i}`)
        if (tx.transaction.from.toLowerCase() !== want.from) corrupt.push(`tx ${want.id}: sender ${tx.transaction.from}, expected ${want.from}`)
        if (r.receipt.status !== want.status || r.receipt.gasUsed !== want.gasUsed || r.height !== h) corrupt.push(`tx ${want.id}: receipt differs from the chain's`)
        if (corrupt.length === txBefore) storedTxs.set(want.id, { from: want.from, to: want.to })
      } catch (err) {
        corrupt.push(`tx ${want.id} of block ${h}: below head but unreadable (${describeError(err)})`)
      }
    }
    if (corrupt.length === before) okBlocks.set(h, cid)
  }

  // nothing past the head: no height, and no block reachable through the range API
  try {
    await store.getBlock(headHeight + 1)
    corrupt.push(`a block is readable at ${headHeight + 1}, past the head`)
  } catch (err) {
    if ((err as Error).name !== 'BlockNotFoundError') corrupt.push(`getBlock(${headHeight + 1}): ${describeError(err)}`)
  }
  for await (const b of store.getBlocks(headHeight + 1, headHeight + 1_000_000)) corrupt.push(`block ${b.header.height} is indexed past the head ${headHeight}`)

  // address history: every stored transaction under its sender and recipient, nothing past the head
  const history = new Map<string, Set<string>>()
  for (const address of expected.addresses) {
    const set = new Set<string>()
    let cursor: string | undefined
    do {
      const page = await store.getAddressHistory(address, { limit: 1000, ...(cursor != null ? { cursor } : {}) })
      for (const item of page.items) {
        set.add(item.id.toString())
        checked.historyEntries++
        if (item.height > headHeight) corrupt.push(`history of ${address}: tx ${item.id.toString()} at height ${item.height}, past the head`)
      }
      cursor = page.cursor
    } while (cursor != null)
    history.set(address.toLowerCase(), set)
  }
  const okTxs = new Set<string>()
  for (const [id, { from, to }] of storedTxs) {
    const inFrom = history.get(from)?.has(id) === true
    const inTo = to == null || history.get(to)?.has(id) === true
    if (!inFrom) corrupt.push(`tx ${id}: missing from its sender's history`)
    if (!inTo) corrupt.push(`tx ${id}: missing from its recipient's history`)
    if (inFrom && inTo) okTxs.add(id)
  }

  // pins: one chain pin per block, none past the head
  let chainPins = 0
  for await (const pin of store.pins()) {
    if (!pin.reasons.includes('chain')) continue
    chainPins++
    if ((pin.height ?? -1) > headHeight) corrupt.push(`chain pin of ${pin.cid.toString()} at height ${String(pin.height)}, past the head`)
  }
  if (chainPins !== headHeight + 1) corrupt.push(`${chainPins} chain pins for ${headHeight + 1} blocks`)

  // every acknowledged write: its block passed every check above (so it is at or
  // below the head, under the acknowledged CID) and so did each of its
  // transactions (record, receipt, sender's and recipient's history)
  for (const [h, ack] of ledger.blocks) {
    if (h <= headHeight && ack.cid !== expected.cids[h]) corrupt.push(`acknowledged block ${h} ${ack.cid} is not the chain's ${expected.cids[h]} (writer and verifier disagree)`)
    if (okBlocks.get(h) !== ack.cid) lost.push(`block ${h}`)
    for (const id of ack.txIds) if (!okTxs.has(id)) lost.push(`tx ${id}`)
  }
  const blocksKv = store.kv(kvNamespaces.blocks)
  const keys = [...ledger.kv.keys()]
  const values = keys.length > 0 ? await blocksKv.getMany(keys) : []
  keys.forEach((key, i) => {
    checked.kv++
    if (!isDeepStrictEqual(values[i], ledger.kv.get(key))) lost.push(`kv ${kvNamespaces.blocks}/${key}`)
  })
  if (ledger.progress >= 0) {
    checked.kv++
    const progress = await store.kv<{ height: number }>(kvNamespaces.meta).get('progress')
    if (progress == null || progress.height < ledger.progress) lost.push(`kv ${kvNamespaces.meta}/progress (acknowledged ${ledger.progress}, stored ${progress?.height})`)
    if (progress != null && progress.height > headHeight) corrupt.push(`kv progress ${progress.height} is past the head ${headHeight}`)
  }

  return { lost, corrupt, checked }
}

/** Figures of a raw scan. */
export interface ScanResult {
  head: number
  problems: string[]
  counts: { heights: number, blockRecords: number, txRecords: number, addressEntries: number, logEntries: number, ipldBlocks: number, keys: number }
}

/**
 * Scans the LevelDB of a stopped store key by key, beneath the API: the height
 * index is exactly 0..head, no record or index entry refers to a height past
 * the head, transaction records match the blocks' counts, and every entry of
 * the blockstore (whatever wrote it) hashes to the CID in its key.
 */
export async function scanLevel (dataDir: string): Promise<ScanResult> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dataDir, LEVEL_DIR), { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: false })
  await db.open()
  const problems: string[] = []
  const counts = { heights: 0, blockRecords: 0, txRecords: 0, addressEntries: 0, logEntries: 0, ipldBlocks: 0, keys: 0 }
  try {
    const headBytes = await db.get(META_HEAD)
    const head = headBytes == null ? -1 : readU64(headBytes, 0)
    const past = (what: string, h: number): void => { if (h > head) problems.push(`${what} at height ${h}, past the head ${head}`) }
    const heightCids = new Map<number, string>()
    const txCounts = new Map<number, number>()
    let txRecordsPerHeight = new Map<number, number>()
    for await (const [key, value] of db.iterator()) {
      counts.keys++
      const prefix = key[0]
      if (prefix === PREFIX.HEIGHT) {
        const h = readU64(key, 1)
        if (h !== counts.heights) problems.push(`height index: expected ${counts.heights}, found ${h}`)
        counts.heights++
        past('height index entry', h)
        try { heightCids.set(h, CID.decode(value).toString()) } catch (err) { problems.push(`height ${h}: value is not a CID (${describeError(err)})`) }
      } else if (prefix === PREFIX.BLOCK) {
        counts.blockRecords++
        try {
          const rec = decodeBlockRecord(value)
          past('block record', rec.height)
          txCounts.set(rec.height, rec.txCount)
        } catch (err) { problems.push(`block record: ${describeError(err)}`) }
      } else if (prefix === PREFIX.BLOCK_TXIDS) {
        past('transaction id list', readU64(key, 1))
      } else if (prefix === PREFIX.TX) {
        counts.txRecords++
        try {
          const rec = decodeTxRecord(value)
          past('transaction record', rec.height)
          txRecordsPerHeight.set(rec.height, (txRecordsPerHeight.get(rec.height) ?? 0) + 1)
        } catch (err) { problems.push(`transaction record: ${describeError(err)}`) }
      } else if (prefix === PREFIX.ADDRESS_WINDOW || prefix === PREFIX.LOG_ADDRESS_WINDOW || prefix === PREFIX.LOG_TOPIC_WINDOW) {
        // the head's window is in memory while the store runs (a crash leaves it to be rebuilt from blocks): windows on disk hold rows up to the head at most
        const what = prefix === PREFIX.ADDRESS_WINDOW ? 'address history entry' : prefix === PREFIX.LOG_ADDRESS_WINDOW ? 'log address entry' : 'log topic entry'
        try {
          const rows = decodeWindow(value, payloadBytes(prefix))
          if (prefix === PREFIX.ADDRESS_WINDOW) counts.addressEntries += rows.length
          for (const r of rows) past(what, r.height)
        } catch (err) { problems.push(`${what} window: ${describeError(err)}`) }
      } else if (prefix === PREFIX.LOG_BLOCK) {
        try { counts.logEntries += logBlockCount(value) } catch (err) { problems.push(`log record: ${describeError(err)}`) }
        past('log', readU64(key, 1))
      } else if (prefix === PREFIX.ADDRESS_POSTINGS || prefix === PREFIX.LOG_ADDRESS_POSTINGS || prefix === PREFIX.LOG_TOPIC_POSTINGS) {
        problems.push(`a schema-5 per-block posting key (prefix ${prefix}) in a schema-6 store`)
      } else if (prefix >= PREFIX.ADDRESS && prefix <= PREFIX.LOG_TOPIC) {
        problems.push(`a schema-2 index key (prefix ${prefix}) in a schema-3 store`)
      }
    }
    if (counts.heights !== head + 1) problems.push(`height index holds ${counts.heights} heights, head is ${head}`)
    if (counts.blockRecords !== head + 1) problems.push(`${counts.blockRecords} block records for heights 0..${head}`)
    for (let h = 0; h <= head; h++) {
      if ((txRecordsPerHeight.get(h) ?? 0) !== (txCounts.get(h) ?? -1)) problems.push(`height ${h}: ${txRecordsPerHeight.get(h) ?? 0} transaction records, block record says ${txCounts.get(h)}`)
    }
    txRecordsPerHeight = new Map()

    // the blockstore sublevel: every value hashes to the multihash in its key
    const blocks = db.sublevel<string, Uint8Array>(BLOCKS_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const hashed = new Set<string>()
    for await (const [key, value] of blocks.iterator()) {
      counts.ipldBlocks++
      try {
        const mh = Digest.decode(base32upper.decoder.decode(key.slice(1)))
        if (mh.code !== SHA2_256) { problems.push(`blockstore ${key}: hash code ${mh.code}`); continue }
        const cid = CID.createV1(0x71, mh)
        if (!bytesMatchCid(cid, value)) problems.push(`blockstore ${key}: ${value.length} bytes that do not hash to the key`)
        hashed.add(cid.toString())
      } catch (err) { problems.push(`blockstore key ${key}: ${describeError(err)}`) }
    }
    for (const [h, cid] of heightCids) if (!hashed.has(cid)) problems.push(`height ${h}: header ${cid} has no bytes in the blockstore`)
    return { head, problems, counts }
  } finally {
    await db.close()
  }
}
