import type { CID } from 'multiformats/cid'
import { CorruptDataError } from '../codec/errors.ts'
import type { Logger } from '../logger.ts'
import type { FetchCache } from './fetch-cache.ts'
import { blockKey } from './keys.ts'
import type { BlocksDb, RootDb, StoreBatch } from './level.ts'
import { startBatch } from './level.ts'
import type { ImportDeleteLock } from './lock.ts'
import type { LevelSource } from './sources.ts'
import type { BlockGetOptions, BlockSource } from './types.ts'

/** What the tiered source is built from. */
export interface TieredBlocksInit {
  db: RootDb
  blocks: BlocksDb
  /** The local tier (verified reads). */
  local: LevelSource
  fetched: FetchCache
  /** The network tiers (peers, gateways), verified. */
  remote: BlockSource
  /** The store's write lock (not refusing a stopped store: an admit after stop is skipped). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  /** A batch that claims the blocks it writes out of the fetch cache. */
  startBatch: () => StoreBatch
  lock: ImportDeleteLock
  /** True when a pin holds the block (it then stays out of the fetch cache). */
  isPinned: (cid: CID) => boolean
  isOpen: () => boolean
  sync: boolean
  log: Logger
}

/**
 * The read path for bytes by CID: local LevelDB (the fetch cache's blocks
 * live there too, LRU by bytes) → the network tiers. Every tier verifies what
 * it returns once (local reads re-hash: damage at rest is a CorruptDataError);
 * a block from the network is then filled upward: written to the blockstore
 * and admitted to the fetch cache, so the next read is local.
 */
export class TieredBlocks implements BlockSource {
  readonly #i: TieredBlocksInit

  constructor (init: TieredBlocksInit) {
    this.#i = init
  }

  async has (cid: CID, options: BlockGetOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted()
    if (this.#i.blocks.getSync(blockKey(cid)) != null) return true
    return await this.#i.remote.has(cid, options)
  }

  async get (cid: CID, options: BlockGetOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    const key = blockKey(cid)
    let local: Uint8Array | undefined
    let damaged: CorruptDataError | undefined
    try {
      local = this.#i.local.getVerifiedSync(cid)
    } catch (err) {
      // damaged at rest: the network tiers may still have it, and their copy replaces this one
      if (!(err instanceof CorruptDataError)) throw err
      damaged = err
    }
    if (local != null) {
      this.#i.fetched.touch(key)
      return local
    }
    this.#i.fetched.miss()
    let bytes: Uint8Array
    try {
      bytes = await this.#i.remote.get(cid, options)
    } catch (err) {
      throw damaged ?? err
    }
    await this.#admit(cid, bytes, damaged != null)
    if (damaged != null) this.#i.log.warn({ cid: cid.toString() }, 'damaged block replaced by a verified copy from the network')
    return bytes
  }

  /**
   * Stores a fetched (verified) block in the fetch cache: its bytes and its
   * cache record in one batch, then deletes what the LRU evicted. Under the
   * write lock, so no pin can take over a block while eviction deletes it.
   */
  async #admit (cid: CID, bytes: Uint8Array, overwrite = false): Promise<void> {
    await this.#i.exclusive(async () => {
      if (!this.#i.isOpen()) return
      const batch = this.#i.startBatch()
      // bitswap may already have written the bytes through Helia
      if (overwrite || this.#i.blocks.getSync(blockKey(cid)) == null) batch.putBlock(cid, bytes)
      // a block a pin already holds stays out of the cache
      const admit = !this.#i.isPinned(cid) && this.#i.fetched.admitInBatch(batch, cid, bytes.length)
      if (batch.length === 0) return
      await batch.write(this.#i.sync)
      if (admit) this.#i.fetched.admitted(cid, bytes.length)
      await this.#evict()
    })
  }

  /** Deletes the blocks the LRU pushed out; waits while an import runs (it may reuse one). Call under the write lock. */
  async #evict (): Promise<void> {
    if (!this.#i.fetched.evictionsPending || this.#i.lock.importing || this.#i.lock.deleting) return
    await this.#i.lock.delete(async () => { await this.deleteEvicted() })
  }

  /** Deletes what the LRU evicted (GC calls it first, under its own deletion). */
  async deleteEvicted (): Promise<void> {
    if (!this.#i.fetched.evictionsPending) return
    const batch = startBatch(this.#i.db, this.#i.blocks)
    const n = this.#i.fetched.evictInBatch(batch)
    await batch.write(this.#i.sync)
    this.#i.log.debug({ evicted: n, cache: this.#i.fetched.stats }, 'fetch cache eviction')
  }
}
