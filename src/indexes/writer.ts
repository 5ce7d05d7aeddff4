import { equals } from 'uint8arrays/equals'
import type { EncodedBlock } from '../codec/encode.ts'
import { Writer, encodeLogEntry } from '../codec/fast-cbor.ts'
import type { CID } from 'multiformats/cid'
import { PREFIX, digestKey, heightKey, writeU64 } from '../storage/keys.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
import { encodeLogBlock, logBlockKey, type LogRow } from './postings.ts'
import { PostingsWriter, postingsSized, type BlockPostings } from './window-rows.ts'
import { RECORD_CRC_BYTES, encodeBlockRecord, encodeTxRecord, sealRecord } from './records.ts'

/** Records that a block is stored (canonical or not): its height and transaction count. */
export function recordBlock (batch: WriteBatch, block: EncodedBlock): void {
  batch.put(digestKey(PREFIX.BLOCK, block.cid.multihash.digest), encodeBlockRecord(block.height, block.txs.length))
}

/** Where a block's postings go: the live store's windows, or a bulk builder. */
export interface PostingsSink<B extends WriteBatch = WriteBatch> {
  add: (batch: B, height: number, postings: BlockPostings) => void
  remove?: (batch: B, height: number, postings: BlockPostings) => void
}

/**
 * Adds every canonical-chain index entry of one block to a batch: height →
 * CID, the block's transaction ids, one covering record per transaction,
 * one record of the block's logs; and hands its postings (per address,
 * sender or recipient; per emitting address and per topic in its slot) to
 * `postings`, which groups them by window (src/indexes/windows.ts). Keys and
 * small values come from one slab.
 */
export function indexBlock<B extends WriteBatch> (batch: B, block: EncodedBlock, postings: PostingsSink<B>): void {
  postings.add(batch, block.height, canonicalEntries(block, (key, value) => { batch.put(key, value) }))
}

/**
 * Indexes a canonical block whose pages are not held (a header-only
 * backup): its record and its height, without transaction entries.
 */
export function indexHeaderOnly (batch: WriteBatch, cid: CID, height: number, txCount: number): void {
  batch.put(digestKey(PREFIX.BLOCK, cid.multihash.digest), encodeBlockRecord(height, txCount))
  indexHeightOnly(batch, cid, height)
}

/** Indexes only the CID of a canonical height (neither header nor pages are held; they can be fetched by it). */
export function indexHeightOnly (batch: WriteBatch, cid: CID, height: number): void {
  batch.put(heightKey(height), cid.bytes)
}

/** Removes exactly the entries {@link indexBlock} added (a reorg takes the block off the canonical chain). */
export function unindexBlock (batch: WriteBatch, block: EncodedBlock, postings: Required<PostingsSink>): void {
  postings.remove(batch, block.height, canonicalEntries(block, key => { batch.del(key) }))
}

/** A canonical block's postings without writing anything (rebuilding the window in memory). */
export function postingsOf (block: EncodedBlock): BlockPostings {
  return canonicalEntries(block, () => {})
}

type Emit = (key: Uint8Array, value: Uint8Array) => void

function canonicalEntries (block: EncodedBlock, emit: Emit): BlockPostings {
  const height = block.height
  const slab = new Slab()
  emit(u64KeyIn(slab, PREFIX.HEIGHT, height), block.cid.bytes)
  const ids = slab.take(32 * block.txs.length + RECORD_CRC_BYTES)
  // sized first (at most: a transaction to its sender posts once), so the postings are three buffers
  // written in place; the memory window copies what it keeps (window-memory.ts)
  // indexed loops: for-of here allocated an iterator result per step (~100 bytes per transaction, scripts/ingest-alloc.ts)
  let count = 0
  let bytes = 0
  const txs = block.txs
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]
    count++
    bytes += 1 + tx.from.length
    if (tx.to != null) { count++; bytes += 1 + tx.to.length }
    const txLogs = tx.logs
    for (let l = 0; l < txLogs.length; l++) {
      const topics = txLogs[l].topics
      count += 1 + topics.length
      bytes += 1 + txLogs[l].address.length
      for (let t = 0; t < topics.length; t++) bytes += 2 + topics[t].length
    }
  }
  const postings = new PostingsWriter(postingsSized(count, bytes, ids, slab))
  const logs: LogRow[] = []
  // the block's log records are views into one writer (encodeLogBlock copies them into its value)
  let logWriter: Writer | undefined
  for (let i = 0; i < block.txs.length; i++) {
    const tx = block.txs[i]
    // the id's digest copied from the block's id buffer: no CID is built for it
    if (tx.digestInto != null) tx.digestInto(ids, i * 32)
    else ids.set(tx.id.multihash.digest, i * 32)
    emit(digestKeyIn(slab, PREFIX.TX, ids, i * 32), encodeTxRecord({
      blockCid: block.cid,
      pageCid: block.txPages[tx.page].cid,
      receiptPageCid: block.receiptPages[tx.page]?.cid ?? null,
      height,
      page: tx.page,
      position: tx.position,
      index: i,
      receiptOffset: tx.receiptOffset,
      receiptLength: tx.receiptLength,
      txBytes: tx.bytes
    }, slab))
    // one posting per (address, tx): its payload is the tx index and digest (from `ids`)
    postings.add(PREFIX.ADDRESS_WINDOW, tx.from, i)
    if (tx.to != null && !equals(tx.to, tx.from)) postings.add(PREFIX.ADDRESS_WINDOW, tx.to, i)
    for (let l = 0; l < tx.logs.length; l++) {
      const log = tx.logs[l]
      const ordinal = logs.length
      logs.push({ index: i, logIndex: l, record: encodeLogEntry(ids.subarray(i * 32, i * 32 + 32), log, logWriter ??= new Writer(LOG_WRITER_BYTES)) })
      postings.add(PREFIX.LOG_ADDRESS_WINDOW, log.address, ordinal)
      for (let t = 0; t < log.topics.length; t++) postings.add(PREFIX.LOG_TOPIC_WINDOW, log.topics[t], ordinal, t)
    }
  }
  emit(u64KeyIn(slab, PREFIX.BLOCK_TXIDS, height), sealRecord(ids))
  if (logs.length > 0) emit(logBlockKey(height, slab), encodeLogBlock(logs, slab))
  return postings.finish()
}

/** First size of a block's log writer (it grows by doubling; earlier views stay valid). */
const LOG_WRITER_BYTES = 16 * 1024

function u64KeyIn (slab: Slab, prefix: number, n: number): Uint8Array {
  const k = slab.take(9)
  k[0] = prefix
  writeU64(k, 1, n)
  return k
}

/** `prefix` and the 32-byte digest at `from` in `src`, as a key taken from `slab`. */
function digestKeyIn (slab: Slab, prefix: number, src: Uint8Array, from: number): Uint8Array {
  const k = slab.take(33)
  k[0] = prefix
  for (let i = 0; i < 32; i++) k[1 + i] = src[from + i]
  return k
}
