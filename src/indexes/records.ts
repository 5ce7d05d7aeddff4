import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { cidsFromDigests } from '../codec/cid.ts'
import { CorruptDataError } from '../codec/errors.ts'
import type { StoredLog } from '../codec/validate.ts'
import type { TransactionLocation } from '../codec/types.ts'
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from '../storage/keys.ts'
import type { Slab } from '../storage/slab.ts'

/**
 * A transaction record is a covering index: location (fixed binary, 122 bytes)
 * followed by the transaction's own bytes, so `getTransaction` is one LevelDB
 * read plus one small decode instead of reading and decoding a whole page. The
 * price is storing each transaction's bytes twice (here and in its page).
 */
export const TX_RECORD_HEAD = 32 * 3 + 8 + 2 + 4 + 4 + 4 + 4

const ZERO32 = new Uint8Array(32)

/** Everything a transaction record holds. */
export interface TxRecord extends TransactionLocation {
  receiptPageCid: CID | null
  receiptOffset: number
  receiptLength: number
  txBytes: Uint8Array
}

/** Encodes a transaction record. */
export function encodeTxRecord (r: {
  blockCid: CID, pageCid: CID, receiptPageCid: CID | null, height: number, page: number, position: number,
  index: number, receiptOffset: number, receiptLength: number, txBytes: Uint8Array
}, slab?: Slab): Uint8Array {
  const out = slab?.take(TX_RECORD_HEAD + r.txBytes.length) ?? new Uint8Array(TX_RECORD_HEAD + r.txBytes.length)
  out.set(r.blockCid.multihash.digest, 0)
  out.set(r.pageCid.multihash.digest, 32)
  out.set(r.receiptPageCid?.multihash.digest ?? ZERO32, 64)
  writeU64(out, 96, r.height)
  writeU16(out, 104, r.page)
  writeU32(out, 106, r.position)
  writeU32(out, 110, r.index)
  writeU32(out, 114, r.receiptOffset)
  writeU32(out, 118, r.receiptLength)
  out.set(r.txBytes, TX_RECORD_HEAD)
  return out
}

/** Decodes a transaction record. */
export function decodeTxRecord (b: Uint8Array): TxRecord {
  if (b.length <= TX_RECORD_HEAD) throw new CorruptDataError(`transaction record: ${b.length} bytes, shorter than its ${TX_RECORD_HEAD}-byte head`)
  const receiptLength = readU32(b, 118)
  const [blockCid, pageCid, receiptPageCid] = cidsFromDigests(b, receiptLength > 0 ? 3 : 2)
  return {
    blockCid,
    pageCid,
    receiptPageCid: receiptPageCid ?? null,
    height: readU64(b, 96),
    page: readU16(b, 104),
    position: readU32(b, 106),
    index: readU32(b, 110),
    receiptOffset: readU32(b, 114),
    receiptLength,
    txBytes: b.subarray(TX_RECORD_HEAD)
  }
}

/** Block record: height and transaction count of a stored header. */
export function encodeBlockRecord (height: number, txCount: number): Uint8Array {
  const out = new Uint8Array(12)
  writeU64(out, 0, height)
  writeU32(out, 8, txCount)
  return out
}

/** Decodes a block record. */
export function decodeBlockRecord (b: Uint8Array): { height: number, txCount: number } {
  if (b.length !== 12) throw new CorruptDataError(`block record: expected 12 bytes, got ${b.length}`)
  return { height: readU64(b, 0), txCount: readU32(b, 8) }
}

/** Decodes a log record: `[txDigest, log]` in dag-cbor, as `encodeLogEntry` (codec/fast-cbor.ts) writes it. */
export function decodeLogRecord (b: Uint8Array): { txDigest: Uint8Array, log: StoredLog } {
  let v: [Uint8Array, StoredLog]
  try { v = dagCbor.decode<[Uint8Array, StoredLog]>(b) } catch (err) { throw new CorruptDataError('log record: bytes are not valid dag-cbor', { cause: err }) }
  if (!Array.isArray(v) || !(v[0] instanceof Uint8Array)) throw new CorruptDataError('log record: unexpected shape')
  return { txDigest: v[0], log: v[1] }
}
