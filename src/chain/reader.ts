import type { CID } from 'multiformats/cid'
import { flat } from '../codec/flat.ts'
import { DAG_CBOR, SHA2_256, bytesMatchCid, parseCid } from '../codec/cid.ts'
import { decodeHeader, decodeReceipt, decodeTxPage } from '../codec/decode.ts'
import type { EncodedBlock, IpldBlock } from '../codec/encode.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { blockFromBytes } from '../codec/from-bytes.ts'
import type { Block, BlockHeader, CodecLimits, ReceiptRecord } from '../codec/types.ts'
import { assertHeight } from '../codec/validate.ts'
import type { BlockRecords, HeightIndex, TxRecords } from '../indexes/heights.ts'
import { readAddressHistory, readLogs } from '../indexes/reader.ts'
import type { PostingWindows } from '../indexes/windows.ts'
import type { TxRecord } from '../indexes/records.ts'
import type { HistoryOptions, HistoryPage, LogQuery, LogRecord } from '../indexes/types.ts'
import { cidFromDigest } from '../codec/cid.ts'
import type { ObjectCache } from '../storage/cache.ts'
import { BlockNotFoundError } from '../storage/errors.ts'
import { ReceiptNotFoundError, TransactionNotFoundError } from './errors.ts'
import { StoredTransaction } from './stored-transaction.ts'
import type { RootDb } from '../storage/level.ts'
import type { AbortOptions } from '../storage/types.ts'
import type { ChainMeta } from './meta.ts'

/** Rough per-object overhead added to byte sizes when sizing cache entries. */
const OBJECT_OVERHEAD = 64

/** A height, or a block CID (object or string). */
export type BlockRef = number | string | CID

/** What chain reads use. */
export interface ChainReaderInit {
  db: RootDb
  /** The newest postings window, held in memory by the writer's index stage. */
  postings: PostingWindows
  meta: ChainMeta
  heights: HeightIndex
  records: BlockRecords
  txs: TxRecords
  /** Bytes of a locally stored IPLD block, or undefined; never the network. Re-hashed against the CID unless the disk is trusted. */
  localBytes: (cid: CID) => Uint8Array | undefined
  /** The memory tier of decoded objects. */
  cache: ObjectCache
  limits: CodecLimits
  /** Re-hash each transaction record's bytes against the transaction id (config `verifyReads`). */
  verifyReads: boolean
  /** Told of every local read refused as corrupt. */
  onCorrupt: (kind: 'block' | 'transaction' | 'index') => void
}

/**
 * Block, transaction, receipt, history and log reads over the local store,
 * through the memory tier of decoded objects. Local reads never touch the
 * network and never wait on I/O threads.
 */
export class ChainReader {
  readonly #i: ChainReaderInit

  constructor (init: ChainReaderInit) {
    this.#i = init
  }

  /**
   * Runs a read, turning a corruption LevelDB reports (a table block whose
   * compressed contents or checksum fail) into CorruptDataError, counted.
   */
  #level<T> (read: () => T): T {
    try {
      return read()
    } catch (err) {
      throw this.#damage(err)
    }
  }

  #damage (err: unknown): unknown {
    if ((err as { code?: string })?.code !== 'LEVEL_CORRUPTION') return err
    this.#i.onCorrupt('block')
    return new CorruptDataError(`LevelDB reports damage on disk: ${(err as Error).message}`, { cause: err })
  }

  /** The header CID at a canonical height, or undefined. */
  canonicalAt (height: number): CID | undefined {
    return this.#level(() => this.#i.heights.at(assertHeight(height)))
  }

  /** Height of a stored block header (canonical or side branch), or undefined. */
  blockHeight (cid: CID): number | undefined {
    return this.#level(() => this.#i.records.heightOf(cid))
  }

  /** Resolves a height or CID to the CID of a stored block header. */
  resolve (ref: BlockRef): CID {
    if (typeof ref === 'number') {
      const cid = this.#i.heights.at(assertHeight(ref))
      if (cid == null) throw new BlockNotFoundError(`no block at height ${ref}`)
      return cid
    }
    const cid = parseCid(ref, 'block')
    if (this.#i.records.heightOf(cid) == null) throw new BlockNotFoundError(`no block ${cid.toString()}`)
    return cid
  }

  /** Bytes of a block the index names; throws when they are not stored here. */
  bytes (cid: CID): Uint8Array {
    const bytes = this.#i.localBytes(cid)
    if (bytes == null) throw new BlockNotFoundError(`block ${cid.toString()} is indexed but its bytes are not stored here (the pin policy let them go, or they were lost)`)
    return bytes
  }

  /** A stored block rebuilt from its bytes, as indexing needs it. */
  encoded (cid: CID): EncodedBlock {
    return blockFromBytes(cid, this.bytes(cid), this.#i.localBytes, this.#i.limits)
  }

  /** The IPLD blocks of a stored block's DAG: header first, then its pages. */
  dag (cid: CID): IpldBlock[] { return this.#level(() => this.#dag(cid)) }

  #dag (cid: CID): IpldBlock[] {
    const header = this.bytes(cid)
    const out: IpldBlock[] = [{ cid, bytes: header }]
    const h = decodeHeader(header)
    for (const p of [...h.txPages, ...h.receiptPages]) out.push({ cid: p, bytes: this.bytes(p) })
    return out
  }

  /** The decoded header of a block. */
  header (ref: BlockRef): BlockHeader & { cid: CID } { return this.#level(() => this.#header(ref)) }

  #header (ref: BlockRef): BlockHeader & { cid: CID } {
    const { cache } = this.#i
    const key = cache.enabled ? cacheKey(ref) : 0
    const hit = cache.enabled ? cache.get<BlockHeader & { cid: CID }>('header', key) : undefined
    if (hit != null) return hit
    const cid = this.resolve(ref)
    const bytes = this.bytes(cid)
    const header = { cid, ...decodeHeader(bytes) }
    if (cache.enabled) cache.set('header', key, header, bytes.length * 2 + OBJECT_OVERHEAD)
    return header
  }

  /** A whole block: header, transactions and their ids. */
  block (ref: BlockRef): Block { return this.#level(() => this.#block(ref)) }

  #block (ref: BlockRef): Block {
    const hit = this.#i.cache.enabled ? this.#i.cache.get<Block>('block', cacheKey(ref)) : undefined
    if (hit != null) return hit
    return this.#readBlock(this.resolve(ref), this.#i.cache.enabled, typeof ref === 'number' ? ref : undefined)
  }

  /** `indexedAt`: the height whose index entry named `cid`, when it was resolved through it. */
  #readBlock (cid: CID, cache: boolean, indexedAt?: number): Block {
    const headerBytes = this.bytes(cid)
    const header = decodeHeader(headerBytes)
    let size = headerBytes.length
    const transactions = []
    for (const pageCid of header.txPages) {
      const bytes = this.bytes(pageCid)
      size += bytes.length
      for (const tx of decodeTxPage(bytes)) transactions.push(tx)
    }
    if (transactions.length !== header.txCount) throw new CorruptDataError(`block ${cid.toString()}: header says ${header.txCount} transactions, pages hold ${transactions.length}`)
    // side-branch blocks have no canonical index entries: ids from the pages
    // found through the height index at its own height, it is canonical there: no second read of that key
    const canonical = header.height === indexedAt || this.#i.heights.isCanonical(cid, header.height)
    const txIds = (canonical ? this.#canonicalTxIds(header.height, header.txCount) : undefined) ??
      this.encoded(cid).txs.map(t => t.id)
    const block: Block = { cid, header, transactions, txIds }
    // decoded objects take about twice their encoded size, plus the id CIDs
    const estimate = size * 2 + header.txCount * 120 + OBJECT_OVERHEAD
    if (cache) {
      this.#i.cache.set('block', header.height, block, estimate)
      this.#i.cache.set('block', cacheKey(cid), block, estimate)
    }
    return block
  }

  #canonicalTxIds (height: number, count: number): CID[] | undefined {
    try {
      return this.#i.heights.txIds(height, count)
    } catch (err) {
      if (err instanceof CorruptDataError) this.#i.onCorrupt('block')
      throw err
    }
  }

  /**
   * Blocks from `fromHeight` to `toHeight` inclusive, in order, one at a time
   * (never the range in memory). A range scan reads past the memory tier
   * without filling it, so one sync or export does not evict the hot set.
   */
  async * blocks (fromHeight: number, toHeight: number, options: AbortOptions = {}): AsyncGenerator<Block> {
    assertHeight(fromHeight, 'fromHeight')
    assertHeight(toHeight, 'toHeight')
    for await (const cid of this.#i.heights.range(fromHeight, toHeight, options)) {
      yield (this.#i.cache.enabled ? this.#i.cache.get<Block>('block', cacheKey(cid)) : undefined) ?? this.#level(() => this.#readBlock(cid, false))
    }
  }

  #txRecord (txId: string | CID): { id: CID, record: TxRecord } {
    const id = parseCid(txId, 'txId')
    // records are keyed by a sha2-256 digest alone: an id under another hash function (or codec) is none of ours, not a damaged record
    if (id.multihash.code !== SHA2_256 || id.code !== DAG_CBOR) throw new TransactionNotFoundError(`no transaction ${id.toString()} (transaction ids are dag-cbor CIDs with a sha2-256 multihash)`)
    let record: TxRecord | undefined
    try {
      record = this.#i.txs.get(id)
    } catch (err) {
      if (err instanceof CorruptDataError) this.#i.onCorrupt('transaction')
      throw err
    }
    if (record == null) throw new TransactionNotFoundError(`no transaction ${id.toString()}`)
    if (this.#i.verifyReads && !bytesMatchCid(id, record.txBytes)) {
      this.#i.onCorrupt('transaction')
      throw new CorruptDataError(`transaction ${id.toString()}: the stored record's bytes do not hash to it`, { cid: id.toString() })
    }
    return { id, record }
  }

  /** A transaction with its block, page and position. */
  transaction (txId: string | CID): StoredTransaction { return this.#level(() => this.#transaction(txId)) }

  #transaction (txId: string | CID): StoredTransaction {
    const { cache } = this.#i
    const hit = cache.enabled ? cache.get<StoredTransaction>('tx', cacheKey(txId)) : undefined
    if (hit != null) return hit
    const { id, record } = this.#txRecord(txId)
    const out = new StoredTransaction(id, record)
    if (cache.enabled) cache.set('tx', cacheKey(id), out, record.txBytes.length * 2 + 400)
    return out
  }

  /** The receipt of a transaction, read from its block's receipt page. */
  receipt (txId: string | CID): ReceiptRecord { return this.#level(() => this.#receipt(txId)) }

  #receipt (txId: string | CID): ReceiptRecord {
    const { id, record } = this.#txRecord(txId)
    if (record.receiptPageCid == null) throw new ReceiptNotFoundError(`transaction ${id.toString()} was stored without a receipt`)
    const page = this.bytes(record.receiptPageCid)
    const receipt = decodeReceipt(page.subarray(record.receiptOffset, record.receiptOffset + record.receiptLength))
    return { txId: id, receipt, blockCid: record.blockCid, height: record.height, page: record.page, pageCid: record.pageCid, position: record.position, index: record.index }
  }

  /** One page of the transactions that an address sent or received, oldest first unless `reverse`. */
  async addressHistory (address: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    try {
      const { entries, cursor } = await readAddressHistory(this.#i.db, this.#i.postings, address, options)
      const want = address.toLowerCase()
      const items = entries.map(e => {
        const item = this.transaction(cidFromDigest(e.txDigest))
        // postings carry no hash of their own: the transaction (verified against its id) must be the address's, where the entry says
        const t = item.transaction
        if ((t.from.toLowerCase() !== want && t.to?.toLowerCase() !== want) || item.height !== e.height || item.index !== e.index) {
          this.#i.onCorrupt('index')
          throw new CorruptDataError(`address history of ${want}: the entry at height ${e.height}, index ${e.index} names transaction ${item.id.toString()} (height ${item.height}, index ${item.index}, from ${t.from}, to ${t.to ?? 'none'}): the posting list is damaged; run \`chainstore verify --repair --reindex\``)
        }
        return item
      })
      return cursor == null ? { items } : { items, cursor }
    } catch (err) {
      throw this.#damage(err)
    }
  }

  /** Logs matching an address and/or topics over a height range, from the log indexes. */
  async logs (query: LogQuery = {}): Promise<LogRecord[]> {
    try {
      return await readLogs(this.#i.db, this.#i.postings, query, this.#i.meta.head()?.height ?? 0)
    } catch (err) {
      throw this.#damage(err)
    }
  }
}

/** Flat string forms of CIDs used as cache keys, per CID object. */
const flatIds = new WeakMap<CID, string>()

/**
 * A height or string stays itself; a CID becomes its string, flattened once
 * per CID object: multiformats builds the base32 string character by
 * character and caches that rope, and a rope as a Map key is compared
 * through its pieces on every lookup (measured: half the speed of a flat key).
 */
function cacheKey (ref: BlockRef): string | number {
  if (typeof ref === 'number' || typeof ref === 'string') return ref
  let s = flatIds.get(ref)
  if (s === undefined) {
    s = flat(ref.toString())
    flatIds.set(ref, s)
  }
  return s
}
