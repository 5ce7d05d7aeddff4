import { CorruptDataError } from '../codec/errors.ts'
import { POSTINGS_WINDOW, PREFIX, readU16, readU32, readU64, writeU16, writeU32, writeU64 } from '../storage/keys.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
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

/** One key's postings in one block: the key's base (prefix and key bytes) and its payloads in block order. */
export interface Posting {
  base: Uint8Array
  payloads: Uint8Array[]
}

/** A block's postings by key base (as a latin1 string). */
export type BlockPostings = Map<string, Posting>

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

/**
 * One base's rows in one window, kept as the window value stores them:
 * (height u64, payload) rows in height order (a block's rows in block
 * order) in one buffer taken from the window's slab, so a window held in
 * memory is a few large buffers and one object per key, not objects per
 * row. (Rows as objects and arrays kept ~100,000 objects alive per
 * window; every one of them was copied by each young GC it lived through,
 * and V8's helper threads spent a third as much CPU as the ingest thread;
 * as bytes, their CPU halved and ingest's total CPU fell ~19 %, see
 * bench/README.md.) Writing the window copies the rows and seals them.
 */
export class RowGroup {
  readonly base: Uint8Array
  /** Bytes of one row: the height (8) and the payload. */
  readonly rowBytes: number
  readonly #slab: Slab
  #buf: Uint8Array
  #count = 0

  constructor (base: Uint8Array, slab: Slab, capacity = 2) {
    this.base = base
    this.rowBytes = 8 + payloadBytes(base[0])
    this.#slab = slab
    this.#buf = slab.take(this.rowBytes * capacity)
  }

  /** A group holding the rows of a stored window value (its body, checksum already checked). */
  static fromRows (base: Uint8Array, slab: Slab, body: Uint8Array): RowGroup {
    const g = new RowGroup(base, slab, Math.max(2, body.length / (8 + payloadBytes(base[0]))))
    g.#buf.set(body)
    g.#count = body.length / g.rowBytes
    return g
  }

  get count (): number { return this.#count }

  heightAt (i: number): number { return readU64(this.#buf, i * this.rowBytes) }

  /** A block's rows for this base, at their place by height (after rows of lower or equal heights). */
  add (height: number, payloads: readonly Uint8Array[]): void {
    const row = this.rowBytes
    const n = payloads.length
    this.#reserve(n)
    let at = this.#count
    // blocks arrive in height order: the rows go at the end; a block that fills a gap goes before higher rows
    while (at > 0 && this.heightAt(at - 1) > height) at--
    const buf = this.#buf
    if (at < this.#count) buf.copyWithin((at + n) * row, at * row, this.#count * row)
    for (let i = 0; i < n; i++) {
      const o = (at + i) * row
      writeU64(buf, o, height)
      buf.set(payloads[i], o + 8)
    }
    this.#count += n
  }

  /** Removes the rows of `heights`; returns how many rows are left. */
  drop (heights: ReadonlySet<number>): number {
    const row = this.rowBytes
    const buf = this.#buf
    let kept = 0
    for (let i = 0; i < this.#count; i++) {
      if (heights.has(this.heightAt(i))) continue
      if (kept !== i) buf.copyWithin(kept * row, i * row, (i + 1) * row)
      kept++
    }
    this.#count = kept
    return kept
  }

  /**
   * The rows, in order, whose height `keep` accepts, appended to `out`.
   * Payloads are views of one copy made here: later adds and drops move
   * rows within the group's own buffer, never within what a reader holds.
   */
  rowsInto (out: WindowRow[], keep: (height: number) => boolean = () => true): void {
    const row = this.rowBytes
    const copy = this.#buf.slice(0, this.#count * row)
    for (let i = 0; i < this.#count; i++) {
      const height = readU64(copy, i * row)
      if (keep(height)) out.push({ height, payload: copy.subarray(i * row + 8, (i + 1) * row) })
    }
  }

  /** The rows as objects (for a merge with rows read from disk). */
  rows (): WindowRow[] {
    const out: WindowRow[] = []
    this.rowsInto(out)
    return out
  }

  /** The rows as a sealed window value (what {@link encodeWindow} writes for them), its bytes taken from `slab`. */
  sealed (slab: Slab): Uint8Array {
    const size = this.#count * this.rowBytes
    const out = slab.take(size + RECORD_CRC_BYTES)
    out.set(this.#buf.subarray(0, size))
    return sealRecord(out)
  }

  #reserve (n: number): void {
    const need = (this.#count + n) * this.rowBytes
    if (need <= this.#buf.length) return
    // doubling: the old region stays in the slab (unused) until the window leaves memory
    const next = this.#slab.take(Math.max(need, this.#buf.length * 2))
    next.set(this.#buf.subarray(0, this.#count * this.rowBytes))
    this.#buf = next
  }
}

/** A window's groups by base (latin1), held in memory. */
export type Groups = Map<string, RowGroup>

/** Adds a block's postings to a window's groups (copied: the block's postings are not kept), creating groups (bases and rows from `slab`) as keys first appear. */
export function addToGroups (groups: Groups, slab: Slab, height: number, postings: BlockPostings): void {
  for (const [k, p] of postings) {
    let g = groups.get(k)
    if (g == null) {
      // the base is copied: a view would keep the block's postings slab alive as long as the window
      const base = slab.take(p.base.length)
      base.set(p.base)
      groups.set(k, g = new RowGroup(base, slab))
    }
    g.add(height, p.payloads)
  }
}

/** Reads a root-keyspace value (undefined when absent). */
export type Get = (key: Uint8Array) => Uint8Array | undefined

/**
 * Writes bulk postings (restore, reindex, migration, fixtures): blocks come
 * in ascending height order, each window is written when the next starts
 * and by {@link finish}; its keys are merged with what the database holds
 * (the rows of the heights given replace theirs), so a run that starts or
 * ends inside a window keeps the rest of it.
 */
export class WindowBuilder {
  readonly #get: Get
  #window = -1
  #groups: Groups = new Map()
  #heights = new Set<number>()
  #slab = new Slab()

  constructor (get: Get) { this.#get = get }

  /** Adds a canonical block's postings; writes the previous window into `batch` when this block starts another. */
  add (batch: WriteBatch, height: number, postings: BlockPostings): void {
    const w = windowOf(height)
    if (w < this.#window) throw new RangeError(`postings builder: height ${height} comes after window ${this.#window}; blocks must ascend`)
    if (w !== this.#window) this.finish(batch)
    this.#window = w
    this.#heights.add(height)
    addToGroups(this.#groups, this.#slab, height, postings)
  }

  /** Writes the window being built. */
  finish (batch: WriteBatch): void {
    if (this.#heights.size === 0) return
    const slab = new Slab()
    for (const g of this.#groups.values()) {
      const key = windowKey(g.base, this.#window, slab)
      const size = payloadBytes(g.base[0])
      const before = this.#get(key)
      batch.put(key, before == null ? g.sealed(slab) : encodeWindow(mergeRows(decodeWindow(before, size), this.#heights, g.rows()), size))
    }
    this.#groups = new Map()
    this.#heights = new Set()
    this.#slab = new Slab()
  }
}

/** Buffer's native latin1 decoder, called on the view itself (no Buffer object per key). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

/** A byte string (its first `length` bytes) as a flat latin1 string (a Map key). */
export function latin1 (b: Uint8Array, length = b.length): string {
  return latin1Slice.call(b, 0, length)
}

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
