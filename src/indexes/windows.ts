import { equals as equalBytes } from 'multiformats/bytes'
import { latin1 } from '../codec/flat.ts'
import { POSTINGS_WINDOW, PREFIX, readU64 } from '../storage/keys.ts'
import { openRecord } from './records.ts'
import type { RootDb, StoreBatch } from '../storage/level.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
import {
  decodeSavedWindow, decodeWindow, encodeSavedWindow, encodeWindow, groupPostings, mergeRows, payloadBytes, payloadOf, windowKey, windowOf,
  type BlockPostings, type Get, type WindowRow
} from './window-rows.ts'
import { WindowRows } from './window-memory.ts'

export {
  decodeWindow, encodeWindow, mergeRows, payloadBytes, windowKey, windowOf,
  type BlockPostings, type WindowRow
} from './window-rows.ts'
export { WindowBuilder } from './window-memory.ts'

// The live store's postings windows; the format, the codec and the bulk writer are in window-rows.ts.

/** Window values staged and not yet written, by key (latin1), with the batch that staged each. */
type Overlay = Map<string, { value: Uint8Array | null, batch: WriteBatch }>

/**
 * Read-modify-write of the window keys one block touches below the windows
 * held in memory (a reorg or a filled gap there): the block's rows replace
 * whatever rows of its height each key held. Values staged earlier and not
 * yet written are read from `overlay` before the database.
 */
function rewriteBlock (batch: WriteBatch, get: Get, overlay: Overlay, height: number, postings: BlockPostings, add: boolean): string[] {
  const touched: string[] = []
  const w = windowOf(height)
  const heights = new Set([height])
  const slab = new Slab()
  for (const { base, values } of groupPostings(postings).values()) {
    const prefix = base[0]
    const key = windowKey(base, w, slab)
    const k = latin1(key)
    const staged = overlay.get(k)
    const before = staged != null ? staged.value ?? undefined : get(key)
    const size = payloadBytes(prefix)
    const rows = mergeRows(before == null ? [] : decodeWindow(before, size), heights, add ? values.map(n => ({ height, payload: payloadOf(prefix, n, postings.digests) })) : [])
    if (rows.length === 0) {
      batch.del(key)
      overlay.set(k, { value: null, batch })
    } else {
      const value = encodeWindow(rows, size)
      batch.put(key, value)
      overlay.set(k, { value, batch })
    }
    touched.push(k)
  }
  return touched
}

/** What one batch staged here, to undo it when the batch is abandoned. */
interface Staged {
  keys: string[]
  floor: number
  heights: number[]
  closed: number[]
  /** Blocks the batch took off the chain: their height, postings and the batch that had staged them (null: written). */
  removed: Array<[number, BlockPostings, WriteBatch | null]>
}

/** Where a clean close saves the head's window for the next open (see {@link SavedWindow}). */
export const SAVED_WINDOW_KEY = Uint8Array.of(PREFIX.POSTINGS_SAVED)

/** How {@link PostingWindows.open} loaded the head's window, and how many blocks it holds. */
export interface WindowsOpened {
  from: 'empty' | 'saved' | 'blocks'
  blocks: number
  /** Why a saved window was there and not used. */
  ignored?: string
}

/** Rebuilds a canonical block's postings (from its stored bytes). */
export type PostingsOf = (height: number) => BlockPostings | undefined

/**
 * The live store's postings: the windows from `floor` up are in memory
 * (never on disk while held), the ones below on disk. A block staged into
 * the memory windows is visible to readers once its batch is written; when
 * the head moves past a window, the batch that moves it writes the window
 * and the window leaves memory once that batch is written.
 */
export class PostingWindows {
  readonly #db: RootDb
  /**
   * Heights held in memory, each with the batch that staged it until that
   * batch is written (null after). Their rows are in {@link #groups}; the
   * blocks' own postings are not kept.
   */
  readonly #heights = new Map<number, WriteBatch | null>()
  /** Lowest window held in memory. */
  #floor = 0
  /** Windows whose write is staged in a batch not yet written (still read from memory). */
  readonly #closing = new Map<number, WriteBatch>()
  /**
   * Each memory window's rows by key, in height order, as the window's
   * values will hold them (WindowRows: one arena per window), so writing a
   * window copies bytes instead of regrouping 256 blocks (that took ~40 ms
   * on the ingest thread per window) and a window is one buffer, not
   * objects per row.
   */
  readonly #groups = new Map<number, WindowRows>()
  /** Window values staged by rewrites and flushes, not yet written. */
  readonly #overlay: Overlay = new Map()
  /** Per batch: the overlay keys it staged and the floor before it (for {@link abandon}). */
  readonly #batches = new WeakMap<WriteBatch, Staged>()

  constructor (db: RootDb) { this.#db = db }

  /**
   * Loads the head's window into memory and deletes its copy on disk (a
   * clean close writes it; a restore or migration may). When the last clean
   * close saved the window for this `stamp` (the caller's head and schema),
   * it is read back from the values that close wrote; otherwise, or when
   * anything of it is missing or damaged, it is rebuilt from the window's
   * canonical blocks, which are durable: a crash loses nothing.
   */
  async open (head: number, postingsOf: PostingsOf, batch: StoreBatch, sync: boolean, stamp?: Uint8Array): Promise<WindowsOpened> {
    this.#heights.clear()
    this.#closing.clear()
    this.#overlay.clear()
    this.#groups.clear()
    this.#floor = head < 0 ? 0 : windowOf(head)
    const saved = this.#db.getSync(SAVED_WINDOW_KEY)
    if (saved != null) batch.del(SAVED_WINDOW_KEY)
    let opened: WindowsOpened = { from: 'empty', blocks: 0 }
    if (head >= 0) {
      const found = saved == null ? 'none' : stamp == null ? 'no stamp to match it against' : this.#readSaved(saved, stamp, head)
      if (typeof found !== 'string') {
        for (const h of found.heights) this.#heights.set(h, null)
        for (const base of found.window.keys()) batch.del(windowKey(base, this.#floor))
        // the values are the window's rows already grouped by key, in height order
        this.#groups.set(this.#floor, found.window)
        opened = { from: 'saved', blocks: found.heights.length }
      } else {
        opened = { from: 'blocks', blocks: 0, ...(found !== 'none' ? { ignored: found } : {}) }
        for (let h = this.#floor * POSTINGS_WINDOW; h <= head; h++) {
          const postings = postingsOf(h)
          if (postings == null) continue
          opened.blocks++
          this.#heights.set(h, null)
          this.#addRows(h, postings)
        }
        // the window's keys are the keys of its blocks
        for (const base of this.#groups.get(this.#floor)?.keys() ?? []) batch.del(windowKey(base, this.#floor))
      }
    }
    if (batch.length > 0) await batch.write(sync)
    return opened
  }

  /**
   * Writes the windows held in memory (at close: a cleanly closed store has
   * every posting on disk) and, with a `stamp`, saves the head's window for
   * the next {@link open} in the same batch.
   */
  async close (batch: StoreBatch, sync: boolean, saveAs?: { stamp: Uint8Array, head: number }): Promise<void> {
    const windows = [...this.#windows()]
    const written = this.#flush(batch, windows)
    if (saveAs != null && saveAs.head >= 0 && windowOf(saveAs.head) === this.#floor && this.#closing.size === 0) {
      const heights = [...this.#heights.keys()].filter(h => windowOf(h) === this.#floor).sort((a, b) => a - b)
      const bases = [...(written.get(this.#floor)?.keys() ?? [])]
      batch.put(SAVED_WINDOW_KEY, encodeSavedWindow({ stamp: saveAs.stamp, head: saveAs.head, heights, bases }))
    }
    if (batch.length > 0) await batch.write(sync)
    this.#heights.clear()
    this.#groups.clear()
  }

  /**
   * The saved window's groups read back from disk, or why not: the record
   * is for another head or stamp, or it or a value it names is missing,
   * damaged (a checksum, or LevelDB's own) or holds rows outside the window.
   * Any of these falls back to the rebuild, which is always right.
   */
  #readSaved (stored: Uint8Array, stamp: Uint8Array, head: number): { heights: number[], window: WindowRows } | string {
    try {
      const saved = decodeSavedWindow(stored)
      if (saved.head !== head || !equalBytes(saved.stamp, stamp)) return 'saved for another head or schema'
      const low = this.#floor * POSTINGS_WINDOW
      const held = new Set(saved.heights)
      if (saved.heights.some(h => h < low || h > head)) return 'heights outside the window'
      const window = new WindowRows()
      for (const base of saved.bases) {
        const value = this.#db.getSync(windowKey(base, this.#floor))
        if (value == null) return 'a window value it names is missing'
        const body = openRecord(value, 'postings window')
        const row = 8 + payloadBytes(base[0])
        if (body.length % row !== 0) return 'a window value ends inside a row'
        for (let at = 0; at < body.length; at += row) {
          const h = readU64(body, at)
          if (!held.has(h)) return 'a window value holds rows of heights it does not name'
          if (at > 0 && h < readU64(body, at - row)) return 'a window value holds rows out of height order'
        }
        window.addStored(base, body)
      }
      return { heights: saved.heights, window }
    } catch (err) {
      return `unreadable: ${(err as Error)?.message ?? String(err)}`
    }
  }

  /** Stages a canonical block's postings with `batch`. */
  add (batch: WriteBatch, height: number, postings: BlockPostings): void {
    const w = windowOf(height)
    const b = this.#track(batch)
    if (w < this.#floor) {
      b.keys.push(...rewriteBlock(batch, this.#get, this.#overlay, height, postings, true))
      return
    }
    if (w > this.#floor) {
      // the head moved past the floor window(s): they are written with this batch
      const closing = [...this.#windows()].filter(x => x < w && !this.#closing.has(x))
      this.#flush(batch, closing, b.keys)
      for (const x of closing) { this.#closing.set(x, batch); b.closed.push(x) }
      this.#floor = w
    }
    // a height held already (not expected: the writer removes a block before another takes its height) loses its old rows
    if (this.#heights.has(height)) this.#dropRows(new Set([height]))
    this.#heights.set(height, batch)
    b.heights.push(height)
    this.#addRows(height, postings)
  }

  /** Stages the removal of a block's postings (it leaves the canonical chain). */
  remove (batch: WriteBatch, height: number, postings: BlockPostings): void {
    const b = this.#track(batch)
    if (windowOf(height) < this.#floor) {
      b.keys.push(...rewriteBlock(batch, this.#get, this.#overlay, height, postings, false))
      return
    }
    if (!this.#heights.has(height)) return
    b.removed.push([height, postings, this.#heights.get(height)!])
    this.#heights.delete(height)
    this.#dropRows(new Set([height]))
  }

  /** Undoes what a batch that will never be written staged here. */
  abandon (batch: WriteBatch): void {
    const b = this.#batches.get(batch)
    if (b == null) return
    this.#batches.delete(batch)
    const dropped = new Set<number>()
    for (const h of b.heights) {
      if (this.#heights.get(h) !== batch) continue
      this.#heights.delete(h)
      dropped.add(h)
    }
    if (dropped.size > 0) this.#dropRows(dropped)
    for (const [h, postings, pending] of b.removed) {
      if (this.#heights.has(h)) continue
      this.#heights.set(h, pending)
      this.#addRows(h, postings)
    }
    for (const k of b.keys) if (this.#overlay.get(k)?.batch === batch) this.#overlay.delete(k)
    for (const w of b.closed) this.#closing.delete(w)
    this.#floor = Math.min(this.#floor, b.floor)
  }

  /**
   * Rows of `base` held in memory, in height order, from written batches
   * only; and the windows they stand for (disk keys of those windows are
   * to be ignored, they are older or absent).
   */
  memoryRows (base: Uint8Array): { windows: Set<number>, rows: WindowRow[] } {
    const windows = this.#windows()
    const rows: WindowRow[] = []
    const written = (h: number): boolean => this.#heights.has(h) && this.#heights.get(h) === null
    for (const w of [...windows].sort((a, b) => a - b)) this.#groups.get(w)?.rowsInto(base, rows, written)
    return { windows, rows }
  }

  /** Blocks (and their heights) held in memory. */
  get size (): number { return this.#heights.size }

  readonly #get = (key: Uint8Array): Uint8Array | undefined => this.#db.getSync(key) ?? undefined

  #windows (): Set<number> {
    const out = new Set<number>(this.#closing.keys())
    for (const h of this.#heights.keys()) out.add(windowOf(h))
    out.add(this.#floor)
    return out
  }

  /** Adds a block's rows to its memory window (created on first use). */
  #addRows (height: number, postings: BlockPostings): void {
    const w = windowOf(height)
    let window = this.#groups.get(w)
    if (window == null) this.#groups.set(w, window = new WindowRows())
    window.add(height, postings)
  }

  /** Removes the rows of `heights` from their windows (a key left without rows goes). */
  #dropRows (heights: ReadonlySet<number>): void {
    const windows = new Set([...heights].map(windowOf))
    for (const w of windows) this.#groups.get(w)?.drop(heights)
  }

  /** Puts the given memory windows into `batch` (and the overlay); returns each window's rows. */
  #flush (batch: WriteBatch, windows: number[], keys: string[] = []): Map<number, WindowRows> {
    const out = new Map<number, WindowRows>()
    for (const w of windows) {
      const slab = new Slab()
      const rows = this.#groups.get(w) ?? new WindowRows()
      out.set(w, rows)
      for (const { base, value } of rows.sealedAll(slab)) {
        const key = windowKey(base, w, slab)
        batch.put(key, value)
        const k = latin1(key)
        this.#overlay.set(k, { value, batch })
        keys.push(k)
      }
    }
    return out
  }

  #track (batch: WriteBatch): Staged {
    let b = this.#batches.get(batch)
    if (b != null) return b
    b = { keys: [], floor: this.#floor, heights: [], closed: [], removed: [] }
    this.#batches.set(batch, b)
    const entry = b
    if (batch.afterWrite == null) throw new TypeError('postings windows: the batch cannot report its write (afterWrite)')
    batch.afterWrite(() => {
      this.#batches.delete(batch)
      for (const h of entry.heights) if (this.#heights.get(h) === batch) this.#heights.set(h, null)
      for (const w of entry.closed) {
        if (this.#closing.get(w) !== batch) continue
        this.#closing.delete(w)
        this.#groups.delete(w)
        for (const h of [...this.#heights.keys()]) if (windowOf(h) === w) this.#heights.delete(h)
      }
      // the database now holds these values (a value a later batch staged for a key stays)
      for (const k of entry.keys) if (this.#overlay.get(k)?.batch === batch) this.#overlay.delete(k)
    })
    return b
  }
}
