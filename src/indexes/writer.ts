import { equals } from 'uint8arrays/equals'
import type { EncodedBlock } from '../codec/encode.ts'
import { encodeLogEntry } from '../codec/fast-cbor.ts'
import type { CID } from 'multiformats/cid'
import { PREFIX, digestKey, heightKey, writeU64 } from '../storage/keys.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
import {
  addressHeightKey, encodeAddressPostings, encodeLogBlock, encodeLogPostings, logBlockKey, topicHeightKey, type LogRow
} from './postings.ts'
import { RECORD_CRC_BYTES, encodeBlockRecord, encodeTxRecord, sealRecord } from './records.ts'

/** Records that a block is stored (canonical or not): its height and transaction count. */
export function recordBlock (batch: WriteBatch, block: EncodedBlock): void {
  batch.put(digestKey(PREFIX.BLOCK, block.cid.multihash.digest), encodeBlockRecord(block.height, block.txs.length))
}

/**
 * Adds every canonical-chain index entry of one block to a batch: height →
 * CID, the block's transaction ids, one covering record per transaction,
 * and per block one posting list per address (sender or recipient), one
 * record of the block's logs, and one posting list per emitting address and
 * per topic in its slot. Keys and small values come from one slab.
 */
export function indexBlock (batch: WriteBatch, block: EncodedBlock): void {
  canonicalEntries(block, (key, value) => { batch.put(key, value) })
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
export function unindexBlock (batch: WriteBatch, block: EncodedBlock): void {
  canonicalEntries(block, key => { batch.del(key) })
}

type Emit = (key: Uint8Array, value: Uint8Array) => void

/** What one block posts, grouped by key (insertion order is block order). */
interface BlockPostings {
  addresses: Map<string, { address: Uint8Array, entries: Array<{ index: number, digest: Uint8Array }> }>
  logs: LogRow[]
  logAddresses: Map<string, { address: Uint8Array, ordinals: number[] }>
  topics: Map<string, { slot: number, topic: Uint8Array, ordinals: number[] }>
}

function canonicalEntries (block: EncodedBlock, emit: Emit): void {
  const height = block.height
  const slab = new Slab()
  emit(u64KeyIn(slab, PREFIX.HEIGHT, height), block.cid.bytes)
  const ids = slab.take(32 * block.txs.length + RECORD_CRC_BYTES)
  const p: BlockPostings = { addresses: new Map(), logs: [], logAddresses: new Map(), topics: new Map() }
  for (let i = 0; i < block.txs.length; i++) {
    const tx = block.txs[i]
    const digest = tx.id.multihash.digest
    ids.set(digest, i * 32)
    emit(digestKeyIn(slab, PREFIX.TX, digest), encodeTxRecord({
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
    const sent = ids.subarray(i * 32, i * 32 + 32)
    postAddress(p, tx.from, i, sent)
    if (tx.to != null && !equals(tx.to, tx.from)) postAddress(p, tx.to, i, sent)
    for (let l = 0; l < tx.logs.length; l++) postLog(p, i, l, digest, tx.logs[l])
  }
  emit(u64KeyIn(slab, PREFIX.BLOCK_TXIDS, height), sealRecord(ids))
  emitPostings(p, height, slab, emit)
}

function emitPostings (p: BlockPostings, height: number, slab: Slab, emit: Emit): void {
  for (const { address, entries } of p.addresses.values()) {
    emit(addressHeightKey(PREFIX.ADDRESS_POSTINGS, address, height, slab), encodeAddressPostings(entries, slab))
  }
  if (p.logs.length === 0) return
  emit(logBlockKey(height, slab), encodeLogBlock(p.logs, slab))
  for (const { address, ordinals } of p.logAddresses.values()) {
    emit(addressHeightKey(PREFIX.LOG_ADDRESS_POSTINGS, address, height, slab), encodeLogPostings(ordinals, slab))
  }
  for (const { slot, topic, ordinals } of p.topics.values()) {
    emit(topicHeightKey(slot, topic, height, slab), encodeLogPostings(ordinals, slab))
  }
}

function postAddress (p: BlockPostings, address: Uint8Array, index: number, digest: Uint8Array): void {
  const key = latin1(address)
  const at = p.addresses.get(key)
  if (at == null) p.addresses.set(key, { address, entries: [{ index, digest }] })
  else at.entries.push({ index, digest })
}

function postLog (p: BlockPostings, index: number, logIndex: number, digest: Uint8Array, log: EncodedBlock['txs'][number]['logs'][number]): void {
  const ordinal = p.logs.length
  p.logs.push({ index, logIndex, record: encodeLogEntry(digest, log) })
  const a = latin1(log.address)
  const byAddress = p.logAddresses.get(a)
  if (byAddress == null) p.logAddresses.set(a, { address: log.address, ordinals: [ordinal] })
  else byAddress.ordinals.push(ordinal)
  for (let t = 0; t < log.topics.length; t++) {
    const k = String.fromCharCode(t) + latin1(log.topics[t])
    const byTopic = p.topics.get(k)
    if (byTopic == null) p.topics.set(k, { slot: t, topic: log.topics[t], ordinals: [ordinal] })
    else byTopic.ordinals.push(ordinal)
  }
}

function latin1 (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1')
}

function u64KeyIn (slab: Slab, prefix: number, n: number): Uint8Array {
  const k = slab.take(9)
  k[0] = prefix
  writeU64(k, 1, n)
  return k
}

function digestKeyIn (slab: Slab, prefix: number, digest: Uint8Array): Uint8Array {
  const k = slab.take(1 + digest.length)
  k[0] = prefix
  k.set(digest, 1)
  return k
}
