import type { CID } from 'multiformats/cid'
import type { Logger } from '../logger.ts'
import type { StoreBatch } from './level.ts'
import type { BlockSource } from './types.ts'

/** What the repair queue is built from. */
export interface RepairQueueInit {
  /** The network tiers (peers, gateways): every block they return is verified against its CID. */
  remote: BlockSource
  /** The store's write lock. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  startBatch: () => StoreBatch
  isOpen: () => boolean
  sync: boolean
  log: Logger
}

/** Most damaged blocks waiting at once; more are dropped (verify --repair finds them). */
const MAX_PENDING = 10_000

/**
 * Blocks a local read found damaged (bytes that do not hash to their CID),
 * fetched again in the background from peers or gateways, verified, and
 * written over the damaged copy. One fetch at a time; `stop` aborts the one
 * in flight. A block no tier has stays damaged (and keeps failing reads with
 * CorruptDataError) until `verify --repair` or a later read queues it again.
 */
export class RepairQueue {
  readonly #i: RepairQueueInit
  readonly #pending = new Map<string, CID>()
  readonly #abort = new AbortController()
  #draining: Promise<void> | null = null
  #repaired = 0
  #failed = 0

  constructor (init: RepairQueueInit) {
    this.#i = init
  }

  /** Queues a damaged block (once while it waits). */
  add (cid: CID): void {
    if (this.#abort.signal.aborted || this.#pending.size >= MAX_PENDING) return
    const key = cid.toString()
    if (this.#pending.has(key)) return
    this.#pending.set(key, cid)
    this.#draining ??= this.#drain().finally(() => { this.#draining = null })
  }

  /** Blocks waiting, repaired and not found anywhere so far. */
  get stats (): { pending: number, repaired: number, failed: number } {
    return { pending: this.#pending.size, repaired: this.#repaired, failed: this.#failed }
  }

  /** Resolves once nothing is queued (tests, shutdown). */
  async idle (): Promise<void> {
    while (this.#draining != null) await this.#draining
  }

  async stop (): Promise<void> {
    this.#abort.abort()
    await this.#draining?.catch(() => {})
  }

  async #drain (): Promise<void> {
    for (const [key, cid] of this.#pending) {
      if (this.#abort.signal.aborted) return
      try {
        const bytes = await this.#i.remote.get(cid, { signal: this.#abort.signal })
        await this.#i.exclusive(async () => {
          if (!this.#i.isOpen()) return
          const batch = this.#i.startBatch()
          batch.putBlock(cid, bytes)
          await batch.write(this.#i.sync)
        })
        this.#repaired++
        this.#i.log.warn({ cid: key }, 'damaged block repaired from the network')
      } catch (err) {
        if (this.#abort.signal.aborted) return
        this.#failed++
        this.#i.log.error({ cid: key, err: (err as Error).message }, 'damaged block: no peer or gateway has it')
      } finally {
        this.#pending.delete(key)
      }
    }
  }
}
