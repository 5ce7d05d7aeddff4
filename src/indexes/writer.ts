import { equals } from 'uint8arrays/equals'
import type { EncodedBlock } from '../codec/encode.ts'
import { PREFIX, addressKey, blockTxIdsKey, concat, digestKey, heightKey, logPosition } from '../storage/keys.ts'
import type { WriteBatch } from '../storage/types.ts'
import { encodeLogEntry } from '../codec/fast-cbor.ts'
import { encodeBlockRecord, encodeTxRecord } from './records.ts'

const EMPTY = new Uint8Array(0)

/** Records that a block is stored (canonical or not): its height and transaction count. */
export function recordBlock (batch: WriteBatch, block: EncodedBlock): void {
  batch.put(digestKey(PREFIX.BLOCK, block.cid.multihash.digest), encodeBlockRecord(block.height, block.txs.length))
}

/**
 * Adds every canonical-chain index entry of one block to a batch: height →
 * CID, the block's transaction ids, one covering record per transaction,
 * address history for sender and recipient, and the log indexes (by position,
 * by emitting address, by each topic in its slot).
 */
export function indexBlock (batch: WriteBatch, block: EncodedBlock): void {
  canonicalEntries(block, (key, value) => batch.put(key, value))
}

/** Removes exactly the entries {@link indexBlock} added (a reorg takes the block off the canonical chain). */
export function unindexBlock (batch: WriteBatch, block: EncodedBlock): void {
  canonicalEntries(block, key => batch.del(key))
}

function canonicalEntries (block: EncodedBlock, emit: (key: Uint8Array, value: Uint8Array) => void): void {
  const height = block.height
  emit(heightKey(height), block.cid.bytes)
  const ids = new Uint8Array(32 * block.txs.length)
  for (let i = 0; i < block.txs.length; i++) {
    const tx = block.txs[i]
    const digest = tx.id.multihash.digest
    ids.set(digest, i * 32)
    emit(digestKey(PREFIX.TX, digest), encodeTxRecord({
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
    }))
    emit(addressKey(tx.from, height, i), digest)
    if (tx.to != null && !equals(tx.to, tx.from)) emit(addressKey(tx.to, height, i), digest)
    for (let l = 0; l < tx.logs.length; l++) {
      const log = tx.logs[l]
      const pos = logPosition(height, i, l)
      emit(concat([Uint8Array.of(PREFIX.LOG), pos]), encodeLogEntry(digest, log))
      emit(concat([Uint8Array.of(PREFIX.LOG_ADDRESS), log.address, pos]), EMPTY)
      for (let t = 0; t < log.topics.length; t++) {
        emit(concat([Uint8Array.of(PREFIX.LOG_TOPIC, t), log.topics[t], pos]), EMPTY)
      }
    }
  }
  emit(blockTxIdsKey(height), ids)
}

