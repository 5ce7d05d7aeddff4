import { equals as equalBytes } from 'multiformats/bytes'
import { POSTINGS_WINDOW, PREFIX } from '../storage/keys.ts'
import type { RootDb, StoreBatch } from '../storage/level.ts'
import { Slab } from '../storage/slab.ts'
import type { WriteBatch } from '../storage/types.ts'
import {
  decodeSavedWindow, decodeWindow, encodeGroup, encodeSavedWindow, encodeWindow, groupWindow, mergeRows, payloadBytes, windowKey, windowOf,
  latin1, type BlockPostings, type Get, type Group, type WindowRow
} from './window-rows.ts'

export {
  WindowBuilder, decodeWindow, encodeWindow, mergeRows, payloadBytes, windowKey, windowOf,
  type BlockPostings, type Posting, type WindowRow
} from './window-rows.ts'

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
  for (const [, p] of postings) {
    const key = windowKey(p.base, w)
    const k = latin1(key)
    const staged = overlay.get(k)
    const before = staged != null ? staged.value ?? undefined : get(key)
    const size = payloadBytes(p.base[0])
    const rows = mergeRows(before == null ? [] : decodeWindow(before, size), heights, add ? p.payloads.map(payload => ({ height, payload })) : [])
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

/** A block held in memory: its postings and the batch that stages it until that batch is written. */
interface MemBlock {
  postings: BlockPostings
  pending: WriteBatch | null
}

/** What one batch staged here, to undo it when the batch is abandoned. */
interface Staged {
  keys: string[]
  floor: number
  heights: number[]
  closed: number[]
  removed: Array<[number, MemBlock]>
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
  readonly #mem = new Map<number, MemBlock>()
  /** Lowest window held in memory. */
  #floor = 0
  /** Windows whose write is staged in a batch not yet written (still read from memory). */
  readonly #closing = new Map<number, WriteBatch>()
  /**
   * Each memory window's rows grouped by key as blocks arrive in height
   * order, so the write at the window's end does not regroup 256 blocks at
   * once (it did: ~40 ms on the ingest thread per window). A window whose
   * blocks came out of order, or lost one (reorg, abandoned batch), is
   * regrouped from its blocks when written.
   */
  readonly #groups = new Map<number, { last: number, byKey: Map<string, Group> }>()
  readonly #regroup = new Set<number>()
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
    this.#mem.clear()
    this.#closing.clear()
    this.#overlay.clear()
    this.#groups.clear()
    this.#regroup.clear()
    this.#floor = head < 0 ? 0 : windowOf(head)
    const saved = this.#db.getSync(SAVED_WINDOW_KEY)
    if (saved != null) batch.del(SAVED_WINDOW_KEY)
    let opened: WindowsOpened = { from: 'empty', blocks: 0 }
    if (head >= 0) {
      const found = saved == null ? 'none' : stamp == null ? 'no stamp to match it against' : this.#readSaved(saved, stamp, head)
      if (typeof found !== 'string') {
        for (const h of found.heights) this.#mem.set(h, { postings: new Map(), pending: null })
        for (const [k, g] of found.byKey) {
          batch.del(windowKey(g.base, this.#floor))
          for (let i = 0; i < g.heights.length; i++) {
            const postings = this.#mem.get(g.heights[i])!.postings
            let p = postings.get(k)
            if (p == null) postings.set(k, p = { base: g.base, payloads: [] })
            p.payloads.push(g.payloads[i])
          }
        }
        // the values are the window's rows already grouped by key, in height order
        this.#groups.set(this.#floor, { last: head, byKey: found.byKey })
        opened = { from: 'saved', blocks: found.heights.length }
      } else {
        opened = { from: 'blocks', blocks: 0, ...(found !== 'none' ? { ignored: found } : {}) }
        this.#regroup.add(this.#floor)
        const deleted = new Set<string>()
        for (let h = this.#floor * POSTINGS_WINDOW; h <= head; h++) {
          const postings = postingsOf(h)
          if (postings == null) continue
          opened.blocks++
          this.#mem.set(h, { postings, pending: null })
          for (const [k, p] of postings) {
            if (deleted.has(k)) continue
            deleted.add(k)
            batch.del(windowKey(p.base, this.#floor))
          }
        }
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
      const heights = [...this.#mem.keys()].filter(h => windowOf(h) === this.#floor).sort((a, b) => a - b)
      const bases = [...(written.get(this.#floor)?.values() ?? [])].map(g => g.base)
      batch.put(SAVED_WINDOW_KEY, encodeSavedWindow({ stamp: saveAs.stamp, head: saveAs.head, heights, bases }))
    }
    if (batch.length > 0) await batch.write(sync)
    this.#mem.clear()
  }

  /**
   * The saved window's groups read back from disk, or why not: the record
   * is for another head or stamp, or it or a value it names is missing,
   * damaged (a checksum, or LevelDB's own) or holds rows outside the window.
   * Any of these falls back to the rebuild, which is always right.
   */
  #readSaved (stored: Uint8Array, stamp: Uint8Array, head: number): { heights: number[], byKey: Map<string, Group> } | string {
    try {
      const saved = decodeSavedWindow(stored)
      if (saved.head !== head || !equalBytes(saved.stamp, stamp)) return 'saved for another head or schema'
      const low = this.#floor * POSTINGS_WINDOW
      const held = new Set(saved.heights)
      if (saved.heights.some(h => h < low || h > head)) return 'heights outside the window'
      const byKey = new Map<string, Group>()
      for (const base of saved.bases) {
        const value = this.#db.getSync(windowKey(base, this.#floor))
        if (value == null) return 'a window value it names is missing'
        const rows = decodeWindow(value, payloadBytes(base[0]))
        const group: Group = { base, heights: new Array(rows.length), payloads: new Array(rows.length) }
        for (let i = 0; i < rows.length; i++) {
          if (!held.has(rows[i].height)) return 'a window value holds rows of heights it does not name'
          group.heights[i] = rows[i].height
          group.payloads[i] = rows[i].payload
        }
        byKey.set(latin1(base), group)
      }
      return { heights: saved.heights, byKey }
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
    this.#mem.set(height, { postings, pending: batch })
    b.heights.push(height)
    this.#group(w, height, postings)
  }

  /** Stages the removal of a block's postings (it leaves the canonical chain). */
  remove (batch: WriteBatch, height: number, postings: BlockPostings): void {
    const b = this.#track(batch)
    if (windowOf(height) < this.#floor) {
      b.keys.push(...rewriteBlock(batch, this.#get, this.#overlay, height, postings, false))
      return
    }
    const m = this.#mem.get(height)
    if (m == null) return
    this.#mem.delete(height)
    this.#regroup.add(windowOf(height))
    b.removed.push([height, m])
  }

  /** Undoes what a batch that will never be written staged here. */
  abandon (batch: WriteBatch): void {
    const b = this.#batches.get(batch)
    if (b == null) return
    this.#batches.delete(batch)
    for (const h of b.heights) if (this.#mem.get(h)?.pending === batch) this.#mem.delete(h)
    for (const [h, m] of b.removed) if (!this.#mem.has(h)) this.#mem.set(h, m)
    for (const h of [...b.heights, ...b.removed.map(r => r[0])]) this.#regroup.add(windowOf(h))
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
    const k = latin1(base)
    const windows = new Set<number>()
    const rows: WindowRow[] = []
    const heights = [...this.#mem.keys()].sort((a, b) => a - b)
    for (const w of this.#windows()) windows.add(w)
    for (const h of heights) {
      const m = this.#mem.get(h)!
      if (m.pending != null) continue
      const p = m.postings.get(k)
      if (p != null) for (const payload of p.payloads) rows.push({ height: h, payload })
    }
    return { windows, rows }
  }

  /** Blocks (and their heights) held in memory. */
  get size (): number { return this.#mem.size }

  readonly #get = (key: Uint8Array): Uint8Array | undefined => this.#db.getSync(key) ?? undefined

  #windows (): Set<number> {
    const out = new Set<number>(this.#closing.keys())
    for (const h of this.#mem.keys()) out.add(windowOf(h))
    out.add(this.#floor)
    return out
  }

  /** Puts the given memory windows into `batch` (and the overlay); returns each window's groups by key. */
  #flush (batch: WriteBatch, windows: number[], keys: string[] = []): Map<number, Map<string, Group>> {
    const out = new Map<number, Map<string, Group>>()
    for (const w of windows) {
      const slab = new Slab()
      const kept = this.#groups.get(w)
      let groups: Map<string, Group>
      if (kept != null && !this.#regroup.has(w)) groups = kept.byKey
      else {
        const blocks: Array<[number, BlockPostings]> = []
        for (const [h, m] of this.#mem) if (windowOf(h) === w) blocks.push([h, m.postings])
        groups = groupWindow(blocks)
      }
      out.set(w, groups)
      for (const g of groups.values()) {
        const key = windowKey(g.base, w)
        const value = encodeGroup(g, slab)
        batch.put(key, value)
        const k = latin1(key)
        this.#overlay.set(k, { value, batch })
        keys.push(k)
      }
    }
    return out
  }

  /** Adds a block's rows to its window's groups, or marks the window for a regroup when the block is not the window's newest. */
  #group (w: number, height: number, postings: BlockPostings): void {
    if (this.#regroup.has(w)) return
    let g = this.#groups.get(w)
    if (g == null) this.#groups.set(w, g = { last: -1, byKey: new Map() })
    if (height <= g.last) { this.#regroup.add(w); this.#groups.delete(w); return }
    g.last = height
    for (const [k, p] of postings) {
      let group = g.byKey.get(k)
      if (group == null) g.byKey.set(k, group = { base: p.base, heights: [], payloads: [] })
      for (const payload of p.payloads) { group.heights.push(height); group.payloads.push(payload) }
    }
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
      for (const h of entry.heights) {
        const m = this.#mem.get(h)
        if (m?.pending === batch) m.pending = null
      }
      for (const w of entry.closed) {
        if (this.#closing.get(w) !== batch) continue
        this.#closing.delete(w)
        this.#groups.delete(w)
        this.#regroup.delete(w)
        for (const h of [...this.#mem.keys()]) if (windowOf(h) === w) this.#mem.delete(h)
      }
      // the database now holds these values (a value a later batch staged for a key stays)
      for (const k of entry.keys) if (this.#overlay.get(k)?.batch === batch) this.#overlay.delete(k)
    })
    return b
  }
}
