import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { cidsFromDigests } from '../codec/cid.ts'
import { CorruptDataError } from '../codec/errors.ts'
import type { StoredLog } from '../codec/validate.ts'
import type { TransactionLocation } from '../codec/types.ts'
import { crc32 } from 'node:zlib'
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from '../storage/keys.ts'
import type { Slab } from '../storage/slab.ts'

/**
 * A transaction record is a covering index: location (fixed binary, 122 bytes)
 * followed by the transaction's own bytes, so `getTransaction` is one LevelDB
 * read plus one small decode instead of reading and decoding a whole page. The
 * price is storing each transaction's bytes twice (here and in its page).
 * Since schema 4 a CRC-32 of everything before it closes the record (see
 * {@link RECORD_CRC_BYTES}).
 */
export const TX_RECORD_HEAD = 32 * 3 + 8 + 2 + 4 + 4 + 4 + 4

/**
 * Bytes of the CRC-32 trailer of a transaction record and of a block's
 * transaction id list (schema 4). LevelDB does not verify its own block
 * checksums on reads (classic-level exposes no option), and these two are
 * derived values with no CID to re-hash against: a flipped byte in a
 * record's location or in an id list would read back as valid data.
 */
export const RECORD_CRC_BYTES = 4

/** Writes the CRC-32 of `out[0 .. length - 4]` into its last 4 bytes. */
export function sealRecord (out: Uint8Array): Uint8Array {
  writeU32(out, out.length - RECORD_CRC_BYTES, crc32(out.subarray(0, out.length - RECORD_CRC_BYTES)))
  return out
}

/** The bytes of a sealed record without its trailer; CorruptDataError when the CRC does not match. */
export function openRecord (b: Uint8Array, what: string): Uint8Array {
  if (b.length < RECORD_CRC_BYTES) throw new CorruptDataError(`${what}: ${b.length} bytes, shorter than its checksum`)
  const body = b.subarray(0, b.length - RECORD_CRC_BYTES)
  if (crc32(body) !== readU32(b, b.length - RECORD_CRC_BYTES)) throw new CorruptDataError(`${what}: the stored bytes fail their checksum (damaged on disk)`)
  return body
}

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
  const size = TX_RECORD_HEAD + r.txBytes.length + RECORD_CRC_BYTES
  const out = slab?.take(size) ?? new Uint8Array(size)
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
  return sealRecord(out)
}

/**
 * Decodes a transaction record, its checksum verified (CorruptDataError when
 * damaged). The numbers are read at once; the CIDs of the block and pages
 * are built on first use ({@link TxRecordView}): a read that does not need
 * them (most) pays nothing for them.
 */
export function decodeTxRecord (sealed: Uint8Array): TxRecord {
  // a plain view: LevelDB's values are Buffers, whose subarray (two here) is a slow path
  const b = openRecord(new Uint8Array(sealed.buffer, sealed.byteOffset, sealed.length), 'transaction record')
  if (b.length <= TX_RECORD_HEAD) throw new CorruptDataError(`transaction record: ${b.length} bytes, shorter than its ${TX_RECORD_HEAD}-byte head`)
  return new TxRecordView(b)
}

/** A transaction record over its (checksummed) bytes; the CIDs are made when first asked for, once. */
class TxRecordView implements TxRecord {
  readonly height: number
  readonly page: number
  readonly position: number
  readonly index: number
  readonly receiptOffset: number
  readonly receiptLength: number
  readonly txBytes: Uint8Array
  readonly #b: Uint8Array
  #cids: CID[] | undefined

  constructor (b: Uint8Array) {
    this.#b = b
    this.height = readU64(b, 96)
    this.page = readU16(b, 104)
    this.position = readU32(b, 106)
    this.index = readU32(b, 110)
    this.receiptOffset = readU32(b, 114)
    this.receiptLength = readU32(b, 118)
    this.txBytes = b.subarray(TX_RECORD_HEAD)
  }

  // all of a record's CIDs in one allocation (cidsFromDigests) when the first is asked for
  #all (): CID[] { return (this.#cids ??= cidsFromDigests(this.#b, this.receiptLength > 0 ? 3 : 2)) }
  get blockCid (): CID { return this.#all()[0] }
  get pageCid (): CID { return this.#all()[1] }
  get receiptPageCid (): CID | null { return this.#all()[2] ?? null }
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
