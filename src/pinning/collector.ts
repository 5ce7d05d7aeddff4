import { existsSync } from 'node:fs'
import type { CID } from 'multiformats/cid'
import type { Logger } from '../logger.ts'
import { BLOCKS_SUBLEVEL } from '../storage/keys.ts'
import type { BlocksDb, RootDb } from '../storage/level.ts'
import type { ImportDeleteLock } from '../storage/lock.ts'
import { collectGarbage, GcUnsafeError, type GcProgress, type GcSummary } from './gc.ts'

/** Config slice of the collector (Kubo's StorageMax and StorageGCWatermark). */
export interface CollectorConfig {
  dataDir: string
  /** Where replication keeps its logs (their entries are unpinned: GC without replication would delete them). */
  replicatedLogsDir: string
  storageMaxBytes?: number | null
  watermarkPercent: number
  checkIntervalMs: number
}

/** What the collector is built from. */
export interface CollectorInit {
  config: CollectorConfig
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  /** The store's write lock, refusing a stopped store. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  lock: ImportDeleteLock
  /** Deletes what the fetch cache evicted, and the keys it still holds. */
  fetchCache: { deleteEvicted: () => Promise<void>, keys: () => Iterable<string> }
  /** True while replication runs. */
  replicating: () => boolean
  /** Roots replication keeps (its logs' entries). */
  keepRoots: () => Promise<CID[]>
  /** Called after a collection (the memory tier may name deleted blocks; metrics; events). */
  collected: (summary: GcSummary) => void
  isOpen: () => boolean
  log: Logger
}

/** Options of a collection. */
export interface GcOptions {
  onProgress?: GcProgress
  signal?: AbortSignal
  /** Compact the blocks' key range afterwards, so LevelDB gives the disk space back now. */
  compact?: boolean
}

/**
 * The garbage collector: marks from the pin records, the fetch cache and
 * replication's log roots, sweeps the blocks of one LevelDB snapshot, under
 * the write lock and the import/delete lock. Also schedules itself by the
 * blockstore's size against a watermark.
 */
export class Collector {
  readonly #i: CollectorInit
  #timer: NodeJS.Timeout | null = null
  /** Blockstore size at the last scheduled GC that could not get under the watermark. */
  #stuckAt = 0

  constructor (init: CollectorInit) {
    this.#i = init
  }

  /** See `ChainStore.gc`. */
  async gc (options: GcOptions = {}): Promise<GcSummary> {
    const { config, db, blocks } = this.#i
    if (!this.#i.replicating() && existsSync(config.replicatedLogsDir)) {
      throw new GcUnsafeError(`data dir ${config.dataDir} holds replicated logs (network/orbitdb) but replication is off: their entries are unpinned, GC would delete them; run gc with network.enabled`)
    }
    return await this.#i.exclusive(async () => {
      return await this.#i.lock.delete(async () => {
        await this.#i.fetchCache.deleteEvicted()
        const roots = this.#i.replicating() ? await this.#i.keepRoots() : []
        const summary = await collectGarbage(db, blocks, roots, { sync: this.#i.sync, keepKeys: this.#i.fetchCache.keys(), ...options })
        if (options.compact === true && summary.deleted > 0) {
          const t = performance.now()
          await db.compactRange(...blocksRange())
          summary.compactMs = performance.now() - t
        }
        this.#i.log.info(summary, 'gc')
        this.#i.collected(summary)
        return summary
      })
    })
  }

  /** LevelDB's estimate of the bytes the blockstore takes on disk. */
  async blockstoreBytes (): Promise<number> {
    return await this.#i.db.approximateSize(...blocksRange())
  }

  /**
   * Every `checkIntervalMs` the blockstore's size is compared with
   * `watermarkPercent` of `storageMaxBytes`; past it, GC runs with
   * compaction. When GC cannot get under the watermark (everything left is
   * pinned) it warns once and waits until the store has grown by another
   * tenth of the watermark before trying again.
   */
  start (): void {
    const { storageMaxBytes, watermarkPercent, checkIntervalMs } = this.#i.config
    if (storageMaxBytes == null) return
    const watermark = Math.floor(storageMaxBytes * watermarkPercent / 100)
    let checking = false
    this.#timer = setInterval(() => {
      if (checking || !this.#i.isOpen() || this.#timer == null || this.#i.lock.deleting) return
      checking = true
      void this.#check(watermark, storageMaxBytes).catch(err => {
        if (this.#i.isOpen()) this.#i.log.warn({ err: (err as Error).message }, 'scheduled gc failed')
      }).finally(() => { checking = false })
    }, checkIntervalMs)
    this.#timer.unref()
  }

  async #check (watermark: number, storageMaxBytes: number): Promise<void> {
    const bytes = await this.blockstoreBytes()
    if (bytes < watermark || (this.#stuckAt > 0 && bytes < this.#stuckAt + watermark / 10)) return
    this.#i.log.info({ bytes, watermark }, 'blockstore past the GC watermark: collecting')
    const summary = await this.gc({ compact: true })
    const after = await this.blockstoreBytes()
    if (after >= watermark) {
      if (this.#stuckAt === 0) this.#i.log.warn({ bytes: after, watermark, storageMaxBytes }, 'blockstore still past the GC watermark after GC: what is left is held by pins')
      this.#stuckAt = after
    } else {
      this.#stuckAt = 0
    }
    this.#i.log.info({ deleted: summary.deleted, bytesFreed: summary.bytesFreed, before: bytes, after }, 'scheduled gc done')
  }

  /** Stops the schedule. */
  stop (): void {
    if (this.#timer != null) clearInterval(this.#timer)
    this.#timer = null
  }
}

/** The blocks sublevel's key range in the root keyspace (abstract-level prefixes sublevel keys with `!name!`). */
function blocksRange (): [Uint8Array, Uint8Array] {
  const enc = new TextEncoder()
  return [enc.encode(`!${BLOCKS_SUBLEVEL}!`), enc.encode(`!${BLOCKS_SUBLEVEL}"`)]
}
