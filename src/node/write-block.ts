import type { EncodedBlock } from '../codec/encode.ts'
import { indexBlock, recordBlock } from '../indexes/writer.ts'
import { holdInBatch, releaseInBatch, type PinReader } from '../pinning/records.ts'
import { CID } from 'multiformats/cid'
import { META_FINALIZED, META_HEAD, readU64, writeU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'
import type { Head } from './types.ts'

/**
 * Everything one block writes: its IPLD blocks (header, transaction and receipt
 * pages) where Helia finds them, its block record, its chain pin, and (unless
 * it goes on a side branch) every canonical index entry. The store and the
 * ingest benchmark's raw baseline both build batches with it, so the baseline
 * writes exactly the store's keys and bytes.
 */
export function addBlockToBatch (batch: WriteBatch, block: EncodedBlock, canonical = true, pin: ChainPin = 'dag', read?: PinReader): void {
  batch.putBlock(block.header.cid, block.header.bytes)
  for (const p of block.txPages) batch.putBlock(p.cid, p.bytes)
  for (const p of block.receiptPages) batch.putBlock(p.cid, p.bytes)
  recordBlock(batch, block)
  if (canonical) indexBlock(batch, block)
  setChainPin(batch, block.cid, block.height, pin, read)
}

/**
 * How a chain block is pinned: `dag` holds the header and every page
 * (recursive), `header` the header alone (its pages may be collected), null
 * nothing (the whole block may be collected).
 */
export type ChainPin = 'dag' | 'header' | null

/** Sets (or drops) the chain's hold on a block in a batch; other reasons' holds stay. */
export function setChainPin (batch: WriteBatch, cid: CID, height: number, pin: ChainPin, read?: PinReader): void {
  if (pin == null) releaseInBatch(batch, read, cid, 'chain')
  else holdInBatch(batch, read, cid, 'chain', pin === 'dag', height)
}

/** Records the head in the same batch. */
export function setHeadInBatch (batch: WriteBatch, head: Head): void {
  const out = new Uint8Array(8 + head.cid.bytes.length)
  writeU64(out, 0, head.height)
  out.set(head.cid.bytes, 8)
  batch.put(META_HEAD, out)
}

/** The head recorded by {@link setHeadInBatch}, or null for an empty store. */
export function readHead (db: RootDb): Head | null {
  return decodeHead(db.getSync(META_HEAD) ?? undefined)
}

/** Decodes a head value written by {@link setHeadInBatch} (backups read it from a snapshot). */
export function decodeHead (bytes: Uint8Array | undefined): Head | null {
  return bytes == null ? null : { height: readU64(bytes, 0), cid: CID.decode(bytes.subarray(8)) }
}

/** The finalized height recorded by {@link writeFinalizedInBatch}, or -1. */
export function readFinalized (db: RootDb): number {
  return decodeFinalized(db.getSync(META_FINALIZED) ?? undefined)
}

/** Decodes a finalized-height value written by {@link writeFinalizedInBatch}, or -1. */
export function decodeFinalized (bytes: Uint8Array | undefined): number {
  return bytes == null ? -1 : readU64(bytes, 0) - 1
}

/** Records the finalized height (stored +1 so that -1, none, fits an unsigned field). */
export function writeFinalizedInBatch (batch: WriteBatch, height: number): void {
  const out = new Uint8Array(8)
  writeU64(out, 0, height + 1)
  batch.put(META_FINALIZED, out)
}
