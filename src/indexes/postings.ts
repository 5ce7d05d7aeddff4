import { CorruptDataError } from '../codec/errors.ts'
import { PREFIX, readU16, readU32, writeU16, writeU32, writeU64 } from '../storage/keys.ts'
import type { Slab } from '../storage/slab.ts'
import { RECORD_CRC_BYTES, openRecord, sealRecord } from './records.ts'

/**
 * Schema 3 index values: one entry per address, log address, topic and
 * block instead of one per transaction or log. A posting list holds the
 * block's entries for one key in block order, so a range scan over
 * (key, height) yields the history in chain order.
 */

/** Bytes of one address posting: tx index (u32) and tx digest. */
export const ADDRESS_POSTING_BYTES = 36
/** Bytes of one log ordinal in a log posting. */
export const LOG_POSTING_BYTES = 4
/** Bytes of one row of a log block's offset table: tx index u32, log index u16, offset u32, length u32. */
export const LOG_ROW_BYTES = 14

/** `ADDRESS_POSTINGS` or `LOG_ADDRESS_POSTINGS` key: prefix, 20-byte address, height. */
export function addressHeightKey (prefix: number, address: Uint8Array, height: number, slab?: Slab): Uint8Array {
  const k = slab?.take(29) ?? new Uint8Array(29)
  k[0] = prefix
  k.set(address, 1)
  writeU64(k, 21, height)
  return k
}

/** `LOG_TOPIC_POSTINGS` key: prefix, slot, 32-byte topic, height. */
export function topicHeightKey (slot: number, topic: Uint8Array, height: number, slab?: Slab): Uint8Array {
  const k = slab?.take(42) ?? new Uint8Array(42)
  k[0] = PREFIX.LOG_TOPIC_POSTINGS
  k[1] = slot
  k.set(topic, 2)
  writeU64(k, 34, height)
  return k
}

/** `LOG_BLOCK` key of a height. */
export function logBlockKey (height: number, slab?: Slab): Uint8Array {
  const k = slab?.take(9) ?? new Uint8Array(9)
  k[0] = PREFIX.LOG_BLOCK
  writeU64(k, 1, height)
  return k
}

/** One address posting list: (tx index, tx digest) per entry. */
export function encodeAddressPostings (entries: Array<{ index: number, digest: Uint8Array }>, slab?: Slab): Uint8Array {
  const out = slab?.take(entries.length * ADDRESS_POSTING_BYTES) ?? new Uint8Array(entries.length * ADDRESS_POSTING_BYTES)
  for (let i = 0; i < entries.length; i++) {
    writeU32(out, i * ADDRESS_POSTING_BYTES, entries[i].index)
    out.set(entries[i].digest, i * ADDRESS_POSTING_BYTES + 4)
  }
  return out
}

/** Decodes an address posting list (digests are views into `b`). */
export function decodeAddressPostings (b: Uint8Array): Array<{ index: number, txDigest: Uint8Array }> {
  if (b.length % ADDRESS_POSTING_BYTES !== 0) throw new CorruptDataError(`address postings: ${b.length} bytes is not a multiple of ${ADDRESS_POSTING_BYTES}`)
  const out = new Array<{ index: number, txDigest: Uint8Array }>(b.length / ADDRESS_POSTING_BYTES)
  for (let i = 0; i < out.length; i++) {
    const o = i * ADDRESS_POSTING_BYTES
    out[i] = { index: readU32(b, o), txDigest: b.subarray(o + 4, o + ADDRESS_POSTING_BYTES) }
  }
  return out
}

/** A log posting list: ordinals of the block's logs (rows of its LOG_BLOCK record). */
export function encodeLogPostings (ordinals: number[], slab?: Slab): Uint8Array {
  const out = slab?.take(ordinals.length * LOG_POSTING_BYTES) ?? new Uint8Array(ordinals.length * LOG_POSTING_BYTES)
  for (let i = 0; i < ordinals.length; i++) writeU32(out, i * LOG_POSTING_BYTES, ordinals[i])
  return out
}

/** Decodes a log posting list. */
export function decodeLogPostings (b: Uint8Array): number[] {
  if (b.length % LOG_POSTING_BYTES !== 0) throw new CorruptDataError(`log postings: ${b.length} bytes is not a multiple of ${LOG_POSTING_BYTES}`)
  const out = new Array<number>(b.length / LOG_POSTING_BYTES)
  for (let i = 0; i < out.length; i++) out[i] = readU32(b, i * LOG_POSTING_BYTES)
  return out
}

/** One log of a block as its LOG_BLOCK record holds it: position and the log record (`encodeLogEntry`). */
export interface LogRow {
  index: number
  logIndex: number
  record: Uint8Array
}

/**
 * A block's logs: count (u32), offset table, then each log record; rows in
 * (tx index, log index) order; since schema 5 closed by a CRC-32 (log
 * records are derived values no CID covers; `openLogBlock` checks it).
 * `sealed: false` writes the schema 3 layout (migration 3 only).
 */
export function encodeLogBlock (rows: LogRow[], slab?: Slab, sealed = true): Uint8Array {
  let size = 4 + rows.length * LOG_ROW_BYTES + (sealed ? RECORD_CRC_BYTES : 0)
  for (const r of rows) size += r.record.length
  const out = slab?.take(size) ?? new Uint8Array(size)
  writeU32(out, 0, rows.length)
  let data = 4 + rows.length * LOG_ROW_BYTES
  for (let i = 0; i < rows.length; i++) {
    const o = 4 + i * LOG_ROW_BYTES
    writeU32(out, o, rows[i].index)
    writeU16(out, o + 4, rows[i].logIndex)
    writeU32(out, o + 6, data)
    writeU32(out, o + 10, rows[i].record.length)
    out.set(rows[i].record, data)
    data += rows[i].record.length
  }
  return sealed ? sealRecord(out) : out
}

/** A stored LOG_BLOCK value without its CRC trailer; CorruptDataError when it fails. */
export function openLogBlock (stored: Uint8Array): Uint8Array {
  return openRecord(stored, 'log block')
}

/** Number of logs in a LOG_BLOCK record. */
export function logBlockCount (b: Uint8Array): number {
  if (b.length < 4) throw new CorruptDataError(`log block: ${b.length} bytes, shorter than its count`)
  const n = readU32(b, 0)
  if (b.length < 4 + n * LOG_ROW_BYTES) throw new CorruptDataError(`log block: ${n} logs do not fit ${b.length} bytes`)
  return n
}

/** Row `ordinal` of a LOG_BLOCK record, decoding nothing else (`record` is a view into `b`). */
export function logBlockRow (b: Uint8Array, ordinal: number): LogRow {
  if (ordinal >= logBlockCount(b)) throw new CorruptDataError(`log block: no log ${ordinal}`)
  const o = 4 + ordinal * LOG_ROW_BYTES
  const offset = readU32(b, o + 6)
  const length = readU32(b, o + 10)
  if (offset + length > b.length) throw new CorruptDataError(`log block: log ${ordinal} runs past the record`)
  return { index: readU32(b, o), logIndex: readU16(b, o + 4), record: b.subarray(offset, offset + length) }
}
