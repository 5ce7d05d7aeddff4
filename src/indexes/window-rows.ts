import { CorruptDataError } from '../codec/errors.ts'
import { latin1 } from '../codec/flat.ts'
import { POSTINGS_WINDOW, PREFIX, readU16, readU32, readU64, writeU16, writeU32, writeU64 } from '../storage/keys.ts'
import type { Slab } from '../storage/slab.ts'
import { openRecord, RECORD_CRC_BYTES, sealRecord } from './records.ts'

/**
 * Schema 6 postings: the canonical chain's address and log postings grouped
 * into one LevelDB key per key and window of {@link POSTINGS_WINDOW} heights
 * instead of one per key and block. LevelDB's cost follows the number of
 * puts; a busy address appears in most blocks of a window, so a window key
 * replaces up to 256 block keys.
 *
 * The newest window (the head's) lives in memory and is written in the
 * batch that moves the head past it, so the hot path only adds to a map.
 * A crash loses nothing: the window is a function of its canonical blocks,
 * which are durable, and {@link PostingWindows.open} rebuilds it from them.
 *
 * A window value is rows of (height u64, payload) in (height, block order)
 * order, closed by a CRC-32; payloads are fixed-size per family: 36 bytes
 * for an address (tx index u32, tx digest), 4 for a log (its ordinal in the
 * block's LOG_BLOCK record).
 */

/**
 * A block's postings, in the order they were made: posting i's key base
 * (prefix, [slot,] key bytes) is `bases[ends[i - 1] ?? 0 .. ends[i])` and
 * its number `values[i]`: a transaction's index for an address key, a
 * log's ordinal for a log key. A key's postings come in block order. The
 * payload bytes are written from the numbers ({@link writePayload}), and
 * the memory window finds a key by its bytes (window-memory.ts): no string,
 * view, array or object per key or posting (as a map of latin1 keys to
 * arrays, making and grouping them took ~13 % of the ingest thread).
 */
export interface BlockPostings {
  /** Number of postings. */
  count: number
  bases: Uint8Array
  ends: Uint32Array
  values: Uint32Array
  /** The block's transaction digests, 32 bytes each by index (what an address payload holds besides the index). */
  digests: Uint8Array
}

/** Writes a block's postings into buffers sized beforehand, at least as large as needed ({@link postingsSized}). */
export class PostingsWriter {
  readonly #p: BlockPostings
  #n = 0
  #at = 0

  constructor (postings: BlockPostings) { this.#p = postings }

  /** The postings added (`count` set to their number). */
  finish (): BlockPostings {
    this.#p.count = this.#n
    return this.#p
  }

  /** Adds posting `value` under (prefix, [slot,] bytes). */
  add (prefix: number, bytes: Uint8Array, value: number, slot = -1): void {
    const p = this.#p
    const out = p.bases
    let at = this.#at
    out[at++] = prefix
    if (slot >= 0) out[at++] = slot
    for (let j = 0; j < bytes.length; j++) out[at++] = bytes[j]
    this.#at = at
    p.ends[this.#n] = at
    p.values[this.#n++] = value
  }
}

/** Empty postings of `count` postings and `bytes` bytes of bases (from `slab` when given). */
export function postingsSized (count: number, bytes: number, digests: Uint8Array, slab?: Slab): BlockPostings {
  return { count, bases: slab?.take(bytes) ?? new Uint8Array(bytes), ends: new Uint32Array(count), values: new Uint32Array(count), digests }
}

/** A block's postings from (base, numbers) pairs, each key's numbers in block order (tests, tools). */
export function postingsFrom (entries: Array<[Uint8Array, number[]]>, digests: Uint8Array): BlockPostings {
  let count = 0
  let bytes = 0
  for (const [base, values] of entries) { count += values.length; bytes += base.length * values.length }
  const w = new PostingsWriter(postingsSized(count, bytes, digests))
  for (const [base, values] of entries) for (const v of values) w.add(base[0], base.subarray(1), v)
  return w.finish()
}

/** A block's postings grouped by key (latin1 of the base), each key's numbers in block order: for the rare paths that go key by key. */
export function groupPostings (p: BlockPostings): Map<string, { base: Uint8Array, values: number[] }> {
  const out = new Map<string, { base: Uint8Array, values: number[] }>()
  for (let i = 0, start = 0; i < p.count; start = p.ends[i++]) {
    const k = latin1(p.bases, start, p.ends[i])
    const group = out.get(k)
    if (group != null) group.values.push(p.values[i])
    else out.set(k, { base: p.bases.subarray(start, p.ends[i]), values: [p.values[i]] })
  }
  return out
}

/** Writes the payload of posting `n` of a key under `prefix` at `at` ({@link payloadBytes} bytes). */
export function writePayload (out: Uint8Array, at: number, prefix: number, n: number, digests: Uint8Array): void {
  writeU32(out, at, n)
  if (prefix !== PREFIX.ADDRESS_WINDOW) return
  for (let j = 0, from = n * 32; j < 32; j++) out[at + 4 + j] = digests[from + j]
}

/** The payload of posting `n` of a key under `prefix`, in a buffer of its own. */
export function payloadOf (prefix: number, n: number, digests: Uint8Array): Uint8Array {
  const out = new Uint8Array(payloadBytes(prefix))
  writePayload(out, 0, prefix, n, digests)
  return out
}

/** A decoded row of a window value (`payload` is a view). */
export interface WindowRow {
  height: number
  payload: Uint8Array
}

/** Payload bytes of the rows under a window prefix. */
export function payloadBytes (prefix: number): number {
  if (prefix === PREFIX.ADDRESS_WINDOW) return 36
  if (prefix === PREFIX.LOG_ADDRESS_WINDOW || prefix === PREFIX.LOG_TOPIC_WINDOW) return 4
  throw new TypeError(`0x${prefix.toString(16)} is not a postings window prefix`)
}

/** The window a height falls in. */
export function windowOf (height: number): number {
  return Math.floor(height / POSTINGS_WINDOW)
}

/**
 * Key of a base's postings in a window: base, then the window's first height
 * (u64, so keys sort by height). From `slab` when given: a key of 64 bytes
 * or less made on its own is a V8 on-heap array, which the native put (and
 * a latin1 string of it) first copies off-heap, ~1 µs a key against ~0.1
 * for a view of a slab; a window written at once has thousands of keys.
 */
export function windowKey (base: Uint8Array, window: number, slab?: Slab): Uint8Array {
  const k = slab != null ? slab.take(base.length + 8) : new Uint8Array(base.length + 8)
  k.set(base, 0)
  writeU64(k, base.length, window * POSTINGS_WINDOW)
  return k
}

/** Encodes rows (already in order) as a sealed window value. */
export function encodeWindow (rows: WindowRow[], payload: number): Uint8Array {
  const row = 8 + payload
  const out = new Uint8Array(rows.length * row + RECORD_CRC_BYTES)
  for (let i = 0; i < rows.length; i++) {
    writeU64(out, i * row, rows[i].height)
    out.set(rows[i].payload, i * row + 8)
  }
  return sealRecord(out)
}

/** Decodes a window value; CorruptDataError when its checksum or length is wrong. */
export function decodeWindow (stored: Uint8Array, payload: number, what = 'postings window'): WindowRow[] {
  const body = openRecord(stored, what)
  const row = 8 + payload
  if (body.length % row !== 0) throw new CorruptDataError(`${what}: ${body.length} bytes is not a multiple of ${row}`)
  const out = new Array<WindowRow>(body.length / row)
  for (let i = 0; i < out.length; i++) out[i] = { height: readU64(body, i * row), payload: body.subarray(i * row + 8, (i + 1) * row) }
  return out
}

/**
 * Rows of a window value with the rows of `heights` replaced by `add`
 * (rows of one height keep their order; heights ascend).
 */
export function mergeRows (existing: WindowRow[], heights: ReadonlySet<number>, add: WindowRow[]): WindowRow[] {
  const kept = existing.filter(r => !heights.has(r.height))
  if (add.length === 0) return kept
  const out = kept.concat(add)
  // stable: rows of one height keep their block order
  return out.sort((a, b) => a.height - b.height)
}

/** Reads a root-keyspace value (undefined when absent). */
export type Get = (key: Uint8Array) => Uint8Array | undefined

/**
 * What a clean close records about the head's window so the next open can
 * read it back instead of rebuilding it from its blocks: the caller's stamp
 * (the head and the schema: a record written for another head is ignored),
 * the head's height, the heights held in memory and the bases the window's
 * values were written under. The rows themselves are the window's values on
 * disk, which the close wrote in the same batch.
 */
export interface SavedWindow {
  stamp: Uint8Array
  head: number
  heights: number[]
  bases: Uint8Array[]
}

/** Encodes a {@link SavedWindow}, sealed with a CRC-32. */
export function encodeSavedWindow (s: SavedWindow): Uint8Array {
  let size = 4 + s.stamp.length + 8 + 4 + 8 * s.heights.length + 4 + RECORD_CRC_BYTES
  for (const b of s.bases) size += 2 + b.length
  const out = new Uint8Array(size)
  let at = 0
  writeU32(out, at, s.stamp.length); at += 4
  out.set(s.stamp, at); at += s.stamp.length
  writeU64(out, at, s.head); at += 8
  writeU32(out, at, s.heights.length); at += 4
  for (const h of s.heights) { writeU64(out, at, h); at += 8 }
  writeU32(out, at, s.bases.length); at += 4
  for (const b of s.bases) {
    if (b.length > 0xffff) throw new RangeError(`postings key base of ${b.length} bytes`)
    writeU16(out, at, b.length); at += 2
    out.set(b, at); at += b.length
  }
  return sealRecord(out)
}

/** Decodes a {@link SavedWindow}; CorruptDataError when its checksum or layout is wrong. */
export function decodeSavedWindow (stored: Uint8Array): SavedWindow {
  const what = 'saved postings window'
  const body = openRecord(stored, what)
  let at = 0
  const need = (n: number): void => { if (at + n > body.length) throw new CorruptDataError(`${what}: truncated at byte ${at}`) }
  need(4); const stampLength = readU32(body, at); at += 4
  need(stampLength); const stamp = body.slice(at, at + stampLength); at += stampLength
  need(12); const head = readU64(body, at); at += 8
  const nHeights = readU32(body, at); at += 4
  need(8 * nHeights)
  const heights = new Array<number>(nHeights)
  for (let i = 0; i < nHeights; i++) { heights[i] = readU64(body, at); at += 8 }
  need(4); const nBases = readU32(body, at); at += 4
  const bases = new Array<Uint8Array>(nBases)
  for (let i = 0; i < nBases; i++) {
    need(2); const length = readU16(body, at); at += 2
    need(length); bases[i] = body.slice(at, at + length); at += length
  }
  if (at !== body.length) throw new CorruptDataError(`${what}: ${body.length - at} bytes after its last base`)
  return { stamp, head, heights, bases }
}
