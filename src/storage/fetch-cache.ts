import { LRUCache } from 'lru-cache'
import type { CID } from 'multiformats/cid'
import { PREFIX, blockKey, prefixRange, prefixedKey, readU64, writeU64 } from './keys.ts'
import type { RootDb } from './level.ts'
import type { WriteBatch } from './types.ts'

/** Figures of the fetched-block tier. */
export interface FetchCacheStats {
  entries: number
  bytes: number
  maxBytes: number
  /** Reads answered by a cached block. */
  hits: number
  /** Reads of blocks not stored here (fetched from peers or gateways). */
  misses: number
  /** Blocks admitted (fetched from a peer or a gateway, not pinned). */
  admitted: number
  /** Blocks evicted by the LRU, and their bytes. */
  evicted: number
  bytesEvicted: number
  /** Cached blocks that a pin took over (they left the tier, the pin holds them). */
  claimed: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function recordKey (key: string): Uint8Array {
  return prefixedKey(PREFIX.FETCHED, encoder.encode(key))
}

/**
 * The tier of unpinned blocks fetched from peers or gateways: their bytes
 * sit in the blockstore like any block, a record per block (PREFIX.FETCHED +
 * block key → size, fetch time) says the tier holds them, and an LRU bounded
 * in bytes decides which go. GC keeps what the tier holds; the tier's own
 * eviction deletes it. Recency lives in memory; after a restart the tier
 * starts ordered by fetch time.
 *
 * Safety: a block a pin comes to hold must leave the tier before eviction
 * could delete it. Every batch that writes or pins a block claims it
 * ({@link claim}), and the store runs {@link evict} under the same write lock
 * as those batches.
 */
export class FetchCache {
  readonly #lru: LRUCache<string, { size: number }> | undefined
  readonly #maxBytes: number
  /** Keys the LRU pushed out, deleted by the next {@link evict}. */
  readonly #pending = new Map<string, number>()
  readonly stats: FetchCacheStats

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
    this.stats = { entries: 0, bytes: 0, maxBytes, hits: 0, misses: 0, admitted: 0, evicted: 0, bytesEvicted: 0, claimed: 0 }
    if (maxBytes > 0) {
      this.#lru = new LRUCache<string, { size: number }>({
        maxSize: maxBytes,
        sizeCalculation: v => Math.max(1, v.size),
        dispose: (v, key, reason) => { if (reason === 'evict') this.#pending.set(key, v.size) }
      })
    }
  }

  /** Loads the records left by the last run, oldest fetch first (so the newest are most recent). */
  async load (db: RootDb): Promise<void> {
    const rows: Array<{ key: string, size: number, at: number }> = []
    for await (const [k, v] of db.iterator(prefixRange(Uint8Array.of(PREFIX.FETCHED)))) {
      rows.push({ key: decoder.decode(k.subarray(1)), size: readU64(v, 0), at: readU64(v, 8) })
    }
    rows.sort((a, b) => a.at - b.at)
    for (const r of rows) {
      if (this.#lru == null) this.#pending.set(r.key, r.size)
      else this.#lru.set(r.key, { size: r.size })
    }
    this.#refresh()
  }

  /** True when the tier holds this block (cached, or evicted and not yet deleted). */
  holds (cid: CID): boolean {
    const key = blockKey(cid)
    return this.#lru?.has(key) === true || this.#pending.has(key)
  }

  /** Counts a read of a block not stored here (it goes to peers or gateways). */
  miss (): void {
    this.stats.misses++
  }

  /** Counts a read answered from the tier and makes the block most recent (`key`: the block's blockstore key). */
  touch (key: string): void {
    if (this.stats.entries > 0 && this.#lru?.get(key) != null) this.stats.hits++
  }

  /**
   * Adds a fetched block's record to a batch (its bytes go in the same batch
   * or are already stored). Call {@link admitted} once the batch is written.
   */
  admitInBatch (batch: WriteBatch, cid: CID, size: number, now = Date.now()): boolean {
    if (this.#lru == null || size > this.#maxBytes) return false
    const value = new Uint8Array(16)
    writeU64(value, 0, size)
    writeU64(value, 8, now)
    batch.put(recordKey(blockKey(cid)), value)
    return true
  }

  /** Puts an admitted block in the LRU (may push older ones out: see {@link evict}). */
  admitted (cid: CID, size: number): void {
    if (this.#lru == null) return
    const key = blockKey(cid)
    this.#pending.delete(key)
    this.#lru.set(key, { size })
    this.stats.admitted++
    this.#refresh()
  }

  /** A pin takes the block over: its record goes in this batch and the LRU forgets it. */
  claim (batch: WriteBatch, cid: CID): void {
    const key = blockKey(cid)
    const inLru = this.#lru?.has(key) === true
    if (!inLru && !this.#pending.has(key)) return
    batch.del(recordKey(key))
    this.#lru?.delete(key)
    this.#pending.delete(key)
    this.stats.claimed++
    this.#refresh()
  }

  /** True when evicted blocks wait to be deleted. */
  get evictionsPending (): boolean { return this.#pending.size > 0 }

  /**
   * Deletes the evicted blocks' bytes and records in a batch. The caller
   * holds the store's write lock, so no pin can claim one in between.
   */
  evictInBatch (batch: WriteBatch & { delBlock: (key: string) => void }): number {
    let n = 0
    for (const [key, size] of this.#pending) {
      batch.delBlock(key)
      batch.del(recordKey(key))
      this.stats.evicted++
      this.stats.bytesEvicted += size
      n++
    }
    this.#pending.clear()
    return n
  }

  /** Keys the tier holds (GC keeps them). */
  * keys (): Iterable<string> {
    if (this.#lru != null) yield * this.#lru.keys()
    yield * this.#pending.keys()
  }

  #refresh (): void {
    this.stats.entries = this.#lru?.size ?? 0
    this.stats.bytes = this.#lru?.calculatedSize ?? 0
  }
}
