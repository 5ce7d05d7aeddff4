import { PREFIX, readU32, readU64, writeU32, writeU64 } from '../storage/keys.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
import { RECORD_CRC_BYTES, sealRecord } from './records.ts'
import {
  baseOf, decodeWindow, encodeWindow, mergeRows, payloadBytes, windowKey, windowOf, writePayload, type BlockPostings, type Get, type WindowRow
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
const META = 5
const LAST = 0
const TOP = 1
const COUNT = 2
const ROW = 3
const ORDERED = 4

/**
 * One window's postings held in memory, as the window's values will hold
 * them: per key, (height u64, payload) rows in height order (a block's rows
 * in block order).
 *
 * Every row of every key goes to the end of ONE arena, linked to its key's
 * previous row; a key is a number (its id) with its base, its newest row
 * and its row count in plain arrays. Adding a block's posting is a map
 * lookup and an append, with no object or view per key or row. (Kept as a
 * buffer per key taken from a slab, growing by doubling, a window of the
 * bench chain held ~11,000 of them and the grouping took ~21 % of the
 * import thread; as per-block maps of objects before that, every young GC
 * copied ~100,000 of them, see bench/README.md.) Rows are read back by
 * walking a key's links from its newest row; a key whose rows were not
 * added in height order (a block filling a gap) is sorted by (height,
 * arrival) when read, which keeps a block's rows in block order.
 */
export class WindowRows {
  /** Key id by base (latin1); a key whose rows are all dropped leaves it. */
  readonly #ids = new Map<string, number>()
  readonly #bases: Uint8Array[] = []
  /**
   * Per key, {@link META} numbers side by side (one cache line, not five
   * arrays to miss in): the offset + 1 of its newest row (0: none), that
   * row's height, its row count, its row bytes (height and payload) and 1
   * while its rows arrived in height order.
   */
  #meta = new Float64Array(META * 1024)
  #arena = new Uint8Array(0)
  #end = 0
  readonly #baseSlab = new Slab()

  /** Keys with rows. */
  get size (): number { return this.#ids.size }

  /** Keys with rows: their latin1 form and their base. */
  * keys (): Generator<[string, Uint8Array]> {
    for (const [k, id] of this.#ids) yield [k, this.#bases[id]]
  }

  /** Adds a block's rows (copied: the block's postings are not kept). */
  add (height: number, postings: BlockPostings): void {
    const digests = postings.digests
    for (const [k, refs] of postings.keys) {
      let id = this.#ids.get(k)
      if (id === undefined) id = this.#key(k, baseOf(k))
      const row = this.#meta[id * META + ROW]
      // the family from the row size kept beside the count (the base's first byte would be another cache miss)
      const prefix = row === ADDRESS_ROW ? PREFIX.ADDRESS_WINDOW : 0
      for (let i = 0; i < refs.length; i++) writePayload(this.#append(id, height), this.#end - row + 8, prefix, refs[i], digests)
    }
  }

  /** Adds the rows of a stored window value (its body, checksum checked, rows in height order) under `base`. */
  addStored (k: string, base: Uint8Array, body: Uint8Array): void {
    const id = this.#ids.get(k) ?? this.#key(k, base)
    const row = this.#meta[id * META + ROW]
    for (let at = 0; at + row <= body.length; at += row) {
      copyBytes(this.#append(id, readU64(body, at)), this.#end - row + 8, body, at + 8, row - 8)
    }
  }

  /** Removes the rows of `heights`; a key left without rows goes. */
  drop (heights: ReadonlySet<number>): void {
    const a = this.#arena
    const m = this.#meta
    for (const [k, id] of this.#ids) {
      const at0 = id * META
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
      if (m[at0 + COUNT] === 0) this.#ids.delete(k)
    }
  }

  /**
   * The rows of key `k`, in order, whose height `keep` accepts, appended to
   * `out`. Payloads are views of one copy made here: later adds and drops
   * never touch what a reader holds.
   */
  rowsInto (k: string, out: WindowRow[], keep: (height: number) => boolean = () => true): void {
    const id = this.#ids.get(k)
    if (id === undefined) return
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

  /** The rows of key `k` as objects (for a merge with rows read from disk). */
  rows (k: string): WindowRow[] {
    const out: WindowRow[] = []
    this.rowsInto(k, out)
    return out
  }

  /**
   * Every key's rows as a sealed window value (what {@link encodeWindow}
   * writes for them), the values' bytes taken from `slab`. One pass over
   * the arena in arrival order puts the rows of keys that arrived in
   * height order; a key that did not is written from its sorted rows.
   */
  sealedAll (slab: Slab): Array<{ k: string, base: Uint8Array, value: Uint8Array }> {
    const out: Array<{ k: string, base: Uint8Array, value: Uint8Array }> = []
    const at: number[] = new Array<number>(this.#bases.length).fill(-1)
    const values: Uint8Array[] = new Array<Uint8Array>(this.#bases.length)
    const a = this.#arena
    for (const [k, id] of this.#ids) {
      const row = this.#meta[id * META + ROW]
      const value = slab.take(this.#meta[id * META + COUNT] * row + RECORD_CRC_BYTES)
      values[id] = value
      out.push({ k, base: this.#bases[id], value })
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

  #key (k: string, base: Uint8Array): number {
    const id = this.#bases.length
    // copied: a view would keep the block's postings slab alive as long as the window
    const copy = this.#baseSlab.take(base.length)
    copy.set(base)
    this.#bases.push(copy)
    if ((id + 1) * META > this.#meta.length) {
      const next = new Float64Array(this.#meta.length * 2)
      next.set(this.#meta)
      this.#meta = next
    }
    const m = id * META
    this.#meta[m + LAST] = 0
    this.#meta[m + TOP] = 0
    this.#meta[m + COUNT] = 0
    this.#meta[m + ROW] = 8 + payloadBytes(base[0])
    this.#meta[m + ORDERED] = 1
    this.#ids.set(k, id)
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
    meta[m + COUNT]++
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
    for (const { k, base, value } of this.#rows.sealedAll(slab)) {
      const key = windowKey(base, this.#window, slab)
      const size = payloadBytes(base[0])
      const before = this.#get(key)
      batch.put(key, before == null ? value : encodeWindow(mergeRows(decodeWindow(before, size), this.#heights, this.#rows.rows(k)), size))
    }
    this.#rows = new WindowRows()
    this.#heights = new Set()
  }
}
