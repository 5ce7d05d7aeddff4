import { PREFIX, readU32, readU64, writeU32, writeU64 } from '../storage/keys.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
import { RECORD_CRC_BYTES, sealRecord } from './records.ts'
import {
  decodeWindow, encodeWindow, mergeRows, payloadBytes, windowKey, windowOf, writePayload, type BlockPostings, type Get, type WindowRow
} from './window-rows.ts'

/** First size of a window's arena; it doubles (a window of 100-tx blocks of the bench chain ends near 4 MiB). */
const ARENA_BYTES = 256 * 1024
/**
 * Bytes before a row's height: its key's id (with {@link DEAD} set once
 * the row is dropped), then the offset + 1 of the key's previous row (0:
 * none).
 */
const LINK = 8
/** Bytes of an address key's row (height and payload): the only family whose payload copies a digest. */
const ADDRESS_ROW = 8 + payloadBytes(PREFIX.ADDRESS_WINDOW)
/** The bit of a dropped row's id word. */
const DEAD = 0x8000_0000
/** Numbers per key in the metadata array, and their places. */
const META = 7
const LAST = 0
const TOP = 1
const COUNT = 2
const ROW = 3
const ORDERED = 4
const BASE = 5
const BASE_LENGTH = 6

/** Per process: a key's slot in {@link WindowRows}'s table does not follow from its bytes alone (keys come from peers). */
const HASH_SEED = (Math.random() * 2 ** 32) >>> 0

/**
 * A 32-bit hash of `b[start, end)`: four bytes at a time, each word mixed
 * in with a multiply and a rotate (murmur3's), then its finalizer. Keys
 * are a prefix and 20-33 bytes of address or topic.
 */
function hashBytes (b: Uint8Array, start: number, end: number): number {
  let h = HASH_SEED
  let i = start
  for (; i + 4 <= end; i += 4) {
    let k = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h ^= k
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0
  }
  for (; i < end; i++) h = Math.imul(h ^ b[i], 0x01000193)
  h ^= end - start
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) | 0
}

/** First number of slots of the key table (a power of two; it doubles at half full). */
const SLOTS = 4096
/** Numbers per slot. */
const SLOT = 4
/** First size of the keys' bytes (it doubles). */
const KEY_BYTES = 64 * 1024

/**
 * One window's postings held in memory, as the window's values will hold
 * them: per key, (height u64, payload) rows in height order (a block's rows
 * in block order).
 *
 * Every row of every key goes to the end of ONE arena, linked to its key's
 * previous row; a key is a number (its id) with its base, its newest row
 * and its row count in plain arrays, found from its bytes in an
 * open-addressing table (linear probing, a seeded hash). Adding a block's
 * posting hashes its base where the block wrote it, probes and appends,
 * with no string, object or view per key or row. (With a Map of latin1
 * strings, the strings and the lookups in a map of a window's ~50,000
 * keys took ~13 % of the import thread; as a buffer per key taken from a
 * slab, growing by doubling, the grouping took ~21 %; as per-block maps of
 * objects before that, every young GC copied ~100,000 of them, see
 * bench/README.md.) Rows are read back by walking a key's links from its
 * newest row; a key whose rows were not added in height order (a block
 * filling a gap) is sorted by (height, arrival) when read, which keeps a
 * block's rows in block order. A key whose rows are all dropped keeps its
 * id (the table has no deletions) and counts as absent.
 */
export class WindowRows {
  /** Keys' bases back to back (where each starts and its length: in {@link #meta}). */
  #keyBytes = new Uint8Array(KEY_BYTES)
  #keyEnd = 0
  /** Keys. */
  #keys = 0
  /**
   * Per slot, side by side (one cache line per probe): the hash of its
   * key's base (compared before the bytes), the key's id + 1 (0: empty),
   * and where its base starts and ends in {@link #keyBytes}.
   */
  #slots = new Int32Array(SLOT * SLOTS)
  /** Keys with rows. */
  #live = 0
  /**
   * Per key, {@link META} numbers side by side (one cache line, not seven
   * arrays to miss in): the offset + 1 of its newest row (0: none), that
   * row's height, its row count, its row bytes (height and payload), 1
   * while its rows arrived in height order, and where its base starts in
   * {@link #keyBytes} and its length.
   */
  #meta = new Float64Array(META * 1024)
  #arena = new Uint8Array(0)
  #end = 0

  /** Keys with rows. */
  get size (): number { return this.#live }

  /** The bases of the keys with rows. */
  * keys (): Generator<Uint8Array> {
    for (let id = 0; id < this.#keys; id++) if (this.#meta[id * META + COUNT] > 0) yield this.#base(id)
  }

  /** Adds a block's rows (copied: the block's postings are not kept). */
  add (height: number, postings: BlockPostings): void {
    const { bases, ends, values, digests } = postings
    for (let i = 0, start = 0; i < postings.count; start = ends[i++]) {
      const id = this.#id(bases, start, ends[i], true)
      const row = this.#meta[id * META + ROW]
      // the family from the row size kept beside the count (the base's first byte would be another cache miss)
      writePayload(this.#append(id, height), this.#end - row + 8, row === ADDRESS_ROW ? PREFIX.ADDRESS_WINDOW : 0, values[i], digests)
    }
  }

  /** Adds the rows of a stored window value (its body, checksum checked, rows in height order) under `base`. */
  addStored (base: Uint8Array, body: Uint8Array): void {
    const id = this.#id(base, 0, base.length, true)
    const row = this.#meta[id * META + ROW]
    for (let at = 0; at + row <= body.length; at += row) {
      copyBytes(this.#append(id, readU64(body, at)), this.#end - row + 8, body, at + 8, row - 8)
    }
  }

  /** Removes the rows of `heights`; a key left without rows counts as absent. */
  drop (heights: ReadonlySet<number>): void {
    const a = this.#arena
    const m = this.#meta
    for (let id = 0; id < this.#keys; id++) {
      const at0 = id * META
      if (m[at0 + COUNT] === 0) continue
      let younger = 0
      for (let at = m[at0 + LAST]; at !== 0;) {
        const prev = readU32(a, at - 1 + 4)
        if (heights.has(readU64(a, at - 1 + LINK))) {
          if (younger === 0) m[at0 + LAST] = prev
          else writeU32(a, younger - 1 + 4, prev)
          writeU32(a, at - 1, (id | DEAD) >>> 0)
          m[at0 + COUNT]--
        } else {
          younger = at
        }
        at = prev
      }
      if (m[at0 + COUNT] === 0) {
        this.#live--
        m[at0 + ORDERED] = 1
      }
    }
  }

  /**
   * The rows of the key `base`, in order, whose height `keep` accepts,
   * appended to `out`. Payloads are views of one copy made here: later adds
   * and drops never touch what a reader holds.
   */
  rowsInto (base: Uint8Array, out: WindowRow[], keep: (height: number) => boolean = () => true): void {
    const id = this.#id(base, 0, base.length, false)
    if (id < 0 || this.#meta[id * META + COUNT] === 0) return
    const offsets = this.#offsets(id)
    const payload = this.#meta[id * META + ROW] - 8
    const a = this.#arena
    const copy = new Uint8Array(offsets.length * payload)
    for (let i = 0; i < offsets.length; i++) {
      const at = offsets[i] + LINK
      const height = readU64(a, at)
      if (!keep(height)) continue
      const to = i * payload
      copyBytes(copy, to, a, at + 8, payload)
      out.push({ height, payload: copy.subarray(to, to + payload) })
    }
  }

  /** The rows of the key `base` as objects (for a merge with rows read from disk). */
  rows (base: Uint8Array): WindowRow[] {
    const out: WindowRow[] = []
    this.rowsInto(base, out)
    return out
  }

  /**
   * Every key's rows as a sealed window value (what {@link encodeWindow}
   * writes for them), the values' bytes taken from `slab`. One pass over
   * the arena in arrival order puts the rows of keys that arrived in
   * height order; a key that did not is written from its sorted rows.
   */
  sealedAll (slab: Slab): Array<{ base: Uint8Array, value: Uint8Array }> {
    const out: Array<{ base: Uint8Array, value: Uint8Array }> = []
    const at: number[] = new Array<number>(this.#keys).fill(-1)
    const values: Uint8Array[] = new Array<Uint8Array>(this.#keys)
    const a = this.#arena
    for (let id = 0; id < this.#keys; id++) {
      const count = this.#meta[id * META + COUNT]
      if (count === 0) continue
      const row = this.#meta[id * META + ROW]
      const value = slab.take(count * row + RECORD_CRC_BYTES)
      values[id] = value
      out.push({ base: this.#base(id), value })
      if (this.#meta[id * META + ORDERED] === 1) { at[id] = 0; continue }
      const offsets = this.#offsets(id)
      for (let i = 0; i < offsets.length; i++) copyBytes(value, i * row, a, offsets[i] + LINK, row)
    }
    for (let o = 0; o < this.#end;) {
      const word = readU32(a, o)
      const id = word & ~DEAD
      const row = this.#meta[id * META + ROW]
      if (word < DEAD && at[id] >= 0) {
        copyBytes(values[id], at[id], a, o + LINK, row)
        at[id] += row
      }
      o += LINK + row
    }
    for (const v of out) sealRecord(v.value)
    return out
  }

  /** The id of the key whose base is `b[start, end)`; a new key when absent and `add`, else -1. */
  #id (b: Uint8Array, start: number, end: number, add: boolean): number {
    const h = hashBytes(b, start, end)
    const slots = this.#slots
    const mask = slots.length / SLOT - 1
    const length = end - start
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const at = SLOT * i
      const s = slots[at + 1]
      if (s === 0) {
        if (!add) return -1
        const id = this.#key(b, start, end)
        slots[at] = h
        slots[at + 1] = id + 1
        slots[at + 2] = this.#keyEnd - length
        slots[at + 3] = length
        if (2 * SLOT * this.#keys > slots.length) this.#rehash()
        return id
      }
      if (slots[at] === h && slots[at + 3] === length && sameBytes(this.#keyBytes, slots[at + 2], b, start, length)) return s - 1
    }
  }

  /** Doubles the table (at half full) and puts every key back. */
  #rehash (): void {
    const old = this.#slots
    const slots = new Int32Array(old.length * 2)
    const mask = slots.length / SLOT - 1
    for (let j = 0; j < old.length; j += SLOT) {
      if (old[j + 1] === 0) continue
      let i = old[j] & mask
      while (slots[SLOT * i + 1] !== 0) i = (i + 1) & mask
      for (let f = 0; f < SLOT; f++) slots[SLOT * i + f] = old[j + f]
    }
    this.#slots = slots
  }

  /** Key `id`'s base (a view of the keys' bytes: a key's bytes never change). */
  #base (id: number): Uint8Array {
    const start = this.#meta[id * META + BASE]
    return this.#keyBytes.subarray(start, start + this.#meta[id * META + BASE_LENGTH])
  }

  #key (b: Uint8Array, start: number, end: number): number {
    const id = this.#keys++
    const length = end - start
    if (this.#keyEnd + length > this.#keyBytes.length) {
      const next = new Uint8Array(Math.max(2 * this.#keyBytes.length, this.#keyEnd + length))
      next.set(this.#keyBytes.subarray(0, this.#keyEnd))
      this.#keyBytes = next
    }
    copyBytes(this.#keyBytes, this.#keyEnd, b, start, length)
    if ((id + 1) * META > this.#meta.length) {
      const next = new Float64Array(this.#meta.length * 2)
      next.set(this.#meta)
      this.#meta = next
    }
    const m = id * META
    this.#meta[m + LAST] = 0
    this.#meta[m + TOP] = 0
    this.#meta[m + COUNT] = 0
    this.#meta[m + ROW] = 8 + payloadBytes(b[start])
    this.#meta[m + ORDERED] = 1
    this.#meta[m + BASE] = this.#keyEnd
    this.#meta[m + BASE_LENGTH] = length
    this.#keyEnd += length
    return id
  }

  /** Appends a row of key `id` at `height` and returns the arena; the caller writes its payload, the row's last bytes before `#end`. */
  #append (id: number, height: number): Uint8Array {
    const meta = this.#meta
    const m = id * META
    const size = LINK + meta[m + ROW]
    if (this.#end + size > this.#arena.length) this.#grow(size)
    const a = this.#arena
    const o = this.#end
    const last = meta[m + LAST]
    if (last !== 0 && meta[m + TOP] > height) meta[m + ORDERED] = 0
    else meta[m + TOP] = height
    writeU32(a, o, id)
    writeU32(a, o + 4, last)
    writeU64(a, o + LINK, height)
    meta[m + LAST] = o + 1
    if (meta[m + COUNT]++ === 0) this.#live++
    this.#end = o + size
    return a
  }

  #grow (need: number): void {
    const next = new Uint8Array(Math.max(ARENA_BYTES, this.#arena.length * 2, this.#end + need))
    next.set(this.#arena.subarray(0, this.#end))
    this.#arena = next
  }

  /** Arena offsets of key `id`'s rows in order: by height, then arrival. */
  #offsets (id: number): number[] {
    const a = this.#arena
    const out = new Array<number>(this.#meta[id * META + COUNT])
    let i = out.length
    for (let at = this.#meta[id * META + LAST]; at !== 0; at = readU32(a, at - 1 + 4)) out[--i] = at - 1
    if (this.#meta[id * META + ORDERED] === 0) out.sort((x, y) => (readU64(a, x + LINK) - readU64(a, y + LINK)) || x - y)
    return out
  }
}

/** Whether `a[at, at + n)` and `b[start, start + n)` hold the same bytes. */
function sameBytes (a: Uint8Array, at: number, b: Uint8Array, start: number, n: number): boolean {
  for (let j = 0; j < n; j++) if (a[at + j] !== b[start + j]) return false
  return true
}

/**
 * Copies `n` bytes byte by byte: a row is 12-44 bytes, where
 * `TypedArray#set` of a `subarray` costs a view and a runtime call each.
 */
function copyBytes (to: Uint8Array, at: number, from: Uint8Array, start: number, n: number): void {
  for (let j = 0; j < n; j++) to[at + j] = from[start + j]
}

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
  #rows = new WindowRows()
  #heights = new Set<number>()

  constructor (get: Get) { this.#get = get }

  /** Adds a canonical block's postings; writes the previous window into `batch` when this block starts another. */
  add (batch: WriteBatch, height: number, postings: BlockPostings): void {
    const w = windowOf(height)
    if (w < this.#window) throw new RangeError(`postings builder: height ${height} comes after window ${this.#window}; blocks must ascend`)
    if (w !== this.#window) this.finish(batch)
    this.#window = w
    this.#heights.add(height)
    this.#rows.add(height, postings)
  }

  /** Writes the window being built. */
  finish (batch: WriteBatch): void {
    if (this.#heights.size === 0) return
    const slab = new Slab()
    for (const { base, value } of this.#rows.sealedAll(slab)) {
      const key = windowKey(base, this.#window, slab)
      const size = payloadBytes(base[0])
      const before = this.#get(key)
      batch.put(key, before == null ? value : encodeWindow(mergeRows(decodeWindow(before, size), this.#heights, this.#rows.rows(base)), size))
    }
    this.#rows = new WindowRows()
    this.#heights = new Set()
  }
}
