import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decodeHeader } from '../codec/decode.ts'
import { headerLinks } from '../codec/from-bytes.ts'
import { linksOf } from '../codec/links.ts'
import { walkDag } from '../codec/walk.ts'
import type { FinalityStage, Head } from '../chain/types.ts'
import type { HeightIndex } from '../indexes/heights.ts'
import type { Logger } from '../logger.ts'
import type { FetchCache } from '../storage/fetch-cache.ts'
import type { RootDb, StoreBatch } from '../storage/level.ts'
import type { SerialLock } from '../storage/types.ts'
import type { BlockSource, WriteBatch } from '../storage/types.ts'
import { setChainPin, type ChainPins } from './chain-pin.ts'
import { PinQueue, dequeueInBatch, queueInBatch, readQueue, type PinJob } from './queue.ts'
import { HOLD_REASONS, holdInBatch, listPins, readPin, releaseInBatch, type HoldReason, type PinReader, type PinRecord, type PinState } from './records.ts'
import { PREFIX, prefixRange } from '../storage/keys.ts'

/** Fetches a whole DAG in one request (a gateway CAR), every block verified against its CID. */
export interface DagFetcher {
  fetchDag: (root: CID, options: { scope: 'entity' | 'all', signal?: AbortSignal }) => Promise<Array<{ cid: CID, bytes: Uint8Array }>>
}

/** What the pin service is built from. */
export interface PinServiceInit {
  db: RootDb
  heights: HeightIndex
  chainPins: ChainPins
  head: () => Head | null
  /** Height of a stored chain header, or undefined (pin walks stop at a header's parent). */
  blockHeight: (cid: CID) => number | undefined
  localBytes: (cid: CID) => Uint8Array | undefined
  /** Peers, then gateways; verified. */
  remote: BlockSource
  /** Trustless gateways that can send a whole DAG as one CAR (verified), or null. */
  gateways: DagFetcher | null
  /** True when peers are connected (a DAG is then fetched from them, not as a gateway CAR). */
  hasPeers: () => boolean
  fetched: FetchCache
  /** The store's write lock, refusing work once the store is stopped. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  /** The same lock, not refusing (settling a job after stop is skipped, not an error). */
  lock: SerialLock
  startBatch: () => StoreBatch
  isOpen: () => boolean
  sync: boolean
  concurrency: number
  log: Logger
  /** Called after a root's record settled (pinned, failed) or a hold on it was dropped (remote pinning and the audit trail follow it). */
  onChange?: (cid: CID, change: 'settled' | 'released') => void
}

/**
 * Pins by reason (user, blob, chain, state, attestation) with states
 * (queued → pinning → pinned, or failed) in the pin records, and the jobs
 * that fetch what a recursive pin's DAG misses. The chain pins' finality
 * work lands here too: a block that becomes final and must be kept whole
 * gets a job that fetches back its collected pages.
 */
export class PinService implements FinalityStage {
  readonly #i: PinServiceInit
  readonly #queue: PinQueue
  /** States of the holds in the persisted pin queue (queued, pinning, failed), by root. */
  readonly #states = new Map<string, PinState>()
  /** The current pin record of a root (pins merge reasons into it). */
  readonly readPin: PinReader

  constructor (init: PinServiceInit) {
    this.#i = init
    this.readPin = cid => readPin(init.db, cid)
    this.#queue = new PinQueue({
      localBytes: init.localBytes,
      fetch: async (cid, signal) => await init.remote.get(cid, { signal }),
      skipLink: (cid, bytes) => cid.code === dagCbor.code && init.blockHeight(cid) != null ? decodeHeader(bytes).parent : null,
      prefetch: async (job, signal) => { await this.#prefetchDag(job, signal) },
      store: async (fetched, local) => { await this.#storeBlocks(fetched, local) },
      settle: async (job, state, error) => await this.#settle(job, state, error)
    }, init.log, init.concurrency)
  }

  /** Restarts the pin jobs a stop or crash left queued or pinning; failed ones wait for `pin` again. */
  async start (): Promise<void> {
    for (const { job, state } of await readQueue(this.#i.db)) {
      this.#states.set(job.cid.toString(), state)
      if (state !== 'failed') void this.#queue.run(job)
    }
  }

  /** Stops the jobs; they keep their queue entries and the next start resumes them. */
  async stop (): Promise<void> {
    await this.#queue.stop()
  }

  /** See `ChainStore.pin`. */
  async pin (root: CID, options: { recursive?: boolean, wait?: boolean, signal?: AbortSignal, reason?: HoldReason } = {}): Promise<PinRecord> {
    const reason = options.reason ?? 'user'
    const job: PinJob = { cid: root, reason, recursive: options.recursive ?? true }
    const record = await this.#i.exclusive(async () => {
      const existing = this.readPin(root)
      const holds = existing?.reasons.includes(reason) === true && (existing.deep?.includes(reason) ?? existing.recursive) === job.recursive
      if (holds && existing!.state === 'pinned') return existing
      if (holds && (existing!.state === 'queued' || existing!.state === 'pinning') && this.#queue.has(root)) return existing
      const batch = this.#i.startBatch()
      holdInBatch(batch, this.readPin, root, reason, job.recursive, undefined, { state: 'queued' })
      queueInBatch(batch, job, 'queued')
      await batch.write(this.#i.sync)
      this.#states.set(root.toString(), 'queued')
      return undefined
    })
    if (record != null && record.state === 'pinned') return record
    const done = this.#queue.run(job)
    if (options.wait === false) return this.readPin(root)!
    if (options.signal == null) return (await done) ?? this.readPin(root)!
    const aborted = new Promise<never>((resolve, reject) => {
      options.signal!.addEventListener('abort', () => { reject(options.signal!.reason) }, { once: true })
    })
    options.signal.throwIfAborted()
    return (await Promise.race([done, aborted])) ?? this.readPin(root)!
  }

  /**
   * Drops one hold (`user` by default, or `remote`) on a root; other
   * reasons' holds stay. Its pin job is cancelled only when no other hold
   * of a person remains (a job still fetching for both settles for the one
   * left). Returns whether the root was held for that reason.
   */
  async unpin (root: CID, options: { reason?: HoldReason } = {}): Promise<boolean> {
    const reason = options.reason ?? 'user'
    const before = this.readPin(root)
    const othersHold = before?.reasons.some(r => r !== reason && HOLD_REASONS.has(r)) === true
    if (!othersHold) await this.#queue.cancel(root)
    return await this.#i.exclusive(async () => {
      const held = this.readPin(root)?.reasons.includes(reason) === true
      if (!held) return false
      const batch = this.#i.startBatch()
      releaseInBatch(batch, this.readPin, root, reason, true)
      if (!othersHold) dequeueInBatch(batch, root)
      await batch.write(this.#i.sync)
      if (!othersHold) this.#states.delete(root.toString())
      this.#i.onChange?.(root, 'released')
      return true
    })
  }

  /** Pin records; with `state`, only those in it. */
  async * pins (options: { state?: PinState, signal?: AbortSignal } = {}): AsyncGenerator<PinRecord> {
    if (options.state == null || options.state === 'pinned') {
      for await (const p of listPins(this.#i.db, options)) if (options.state == null || p.state === options.state) yield p
      return
    }
    for (const [key, state] of [...this.#states]) {
      options.signal?.throwIfAborted()
      if (state !== options.state) continue
      const record = this.readPin(CID.parse(key))
      if (record != null) yield record
    }
  }

  /** Counts of holds not yet pinned, by state. */
  states (): Record<Exclude<PinState, 'pinned'>, number> {
    const out = { queued: 0, pinning: 0, failed: 0 }
    for (const state of this.#states.values()) if (state !== 'pinned') out[state]++
    return out
  }

  /** Pin records by state: a key scan of the pin records, the rest from the pin queue. */
  async counts (): Promise<Record<PinState, number>> {
    let total = 0
    for await (const _ of this.#i.db.keys(prefixRange(Uint8Array.of(PREFIX.PIN)))) total++
    const waiting = this.states()
    return { pinned: total - waiting.queued - waiting.pinning - waiting.failed, ...waiting }
  }

  /** Finality moved: repin the heights a `finalizedOnly` rule keeps; a kept block whose pages are gone gets a job. */
  finalityMoved (batch: WriteBatch, from: number, to: number, head: number): (() => void) | undefined {
    const jobs: PinJob[] = []
    for (const h of this.#i.chainPins.finalityHeights(from + 1, to)) {
      const cid = this.#i.heights.at(h)
      if (cid == null) continue
      const pin = this.#i.chainPins.pinAt(h, head)
      if (pin === 'dag' && !this.#dagStored(cid)) {
        const job: PinJob = { cid, reason: 'chain', recursive: true, height: h }
        holdInBatch(batch, this.readPin, cid, 'chain', true, h, { state: 'queued' })
        queueInBatch(batch, job, 'queued')
        jobs.push(job)
      } else {
        setChainPin(batch, cid, h, pin, this.readPin)
      }
    }
    if (jobs.length === 0) return undefined
    this.#i.log.debug({ from, to, refetch: jobs.length }, 'finalized blocks to fetch back')
    return () => {
      for (const job of jobs) {
        this.#states.set(job.cid.toString(), 'queued')
        void this.#queue.run(job)
      }
    }
  }

  /** True when a block's header and every page are stored here. */
  #dagStored (cid: CID): boolean {
    const header = this.#i.localBytes(cid)
    if (header == null) return false
    return headerLinks(header).pages.every(p => this.#i.localBytes(p) != null)
  }

  /**
   * With no peer connected, a pin of a DAG not stored here first asks the
   * gateways for all of it in one CAR (`dag-scope=all` for UnixFS and raw
   * roots; `entity` for dag-cbor: the block alone, as the trustless gateway
   * spec has it for non-UnixFS data — `all` of a chain header would follow
   * its parent links to genesis). Only blocks reachable from the root
   * are kept, parents first; the walk that follows fetches anything still
   * missing. Any failure leaves the walk to do it block by block.
   */
  async #prefetchDag (job: PinJob, signal: AbortSignal): Promise<void> {
    const gateways = this.#i.gateways
    if (gateways == null || !job.recursive || this.#i.hasPeers()) return
    let blocks: Array<{ cid: CID, bytes: Uint8Array }>
    try {
      blocks = await gateways.fetchDag(job.cid, { scope: job.cid.code === dagCbor.code ? 'entity' : 'all', signal })
    } catch (err) {
      if (signal.aborted) throw err
      this.#i.log.debug({ cid: job.cid.toString(), err: (err as Error).message }, 'no CAR for the DAG; fetching block by block')
      return
    }
    // only blocks reachable from the root are kept, parents first; bytes that
    // hash right but do not decode end their branch (the pin walk reports them)
    const byCid = new Map(blocks.map(b => [b.cid.toString(), b.bytes]))
    const reachable: Array<{ cid: CID, bytes: Uint8Array }> = []
    const links = (cid: CID, bytes: Uint8Array): CID[] => { try { return linksOf(cid, bytes) ?? [] } catch { return [] } }
    for await (const b of walkDag(job.cid, cid => byCid.get(cid.toString()), { reportMissing: true, links, signal })) {
      if (b.bytes != null && this.#i.localBytes(b.cid) == null) reachable.push({ cid: b.cid, bytes: b.bytes })
    }
    for (let i = 0; i < reachable.length; i += 256) await this.#storeBlocks(reachable.slice(i, i + 256), [])
  }

  /** Writes blocks a pin job fetched (verified) and claims the local ones out of the fetch cache, in one batch. */
  async #storeBlocks (fetched: Array<{ cid: CID, bytes: Uint8Array }>, local: CID[]): Promise<void> {
    await this.#i.exclusive(async () => {
      const batch = this.#i.startBatch()
      for (const b of fetched) batch.putBlock(b.cid, b.bytes)
      for (const cid of local) this.#i.fetched.claim(batch, cid)
      if (batch.length > 0) await batch.write(this.#i.sync)
    })
  }

  /** Moves a pin job's record and queue entry to a new state. */
  async #settle (job: PinJob, state: 'pinning' | 'pinned' | 'failed', error?: string): Promise<PinRecord | undefined> {
    return await this.#i.lock.run(async () => {
      if (!this.#i.isOpen()) return undefined
      const existing = this.readPin(job.cid)
      // a person's job settles for whichever of their holds is left (user or remote)
      const reason = existing?.reasons.includes(job.reason) === true ? job.reason : HOLD_REASONS.has(job.reason) ? existing?.reasons.find(r => HOLD_REASONS.has(r)) : undefined
      // unpinned (or the chain let go) while the job ran: nothing to settle
      if (existing == null || reason == null) return undefined
      const batch = this.#i.startBatch()
      if (job.reason === 'chain' && job.height != null) {
        // the policy may have moved on while the blocks were fetched
        const pin = state === 'pinned' ? this.#i.chainPins.pinAt(job.height, this.#i.head()?.height ?? job.height) : 'dag'
        if (pin == null) releaseInBatch(batch, this.readPin, job.cid, 'chain', true)
        else holdInBatch(batch, this.readPin, job.cid, 'chain', pin === 'dag', job.height, { state })
      } else {
        holdInBatch(batch, this.readPin, job.cid, reason, job.recursive, undefined, { state, ...(error != null ? { error } : {}) })
      }
      if (state === 'pinned') dequeueInBatch(batch, job.cid)
      else queueInBatch(batch, job, state)
      await batch.write(this.#i.sync)
      if (state === 'pinned') this.#states.delete(job.cid.toString())
      else this.#states.set(job.cid.toString(), state)
      if (state !== 'pinning') this.#i.onChange?.(job.cid, 'settled')
      return this.readPin(job.cid)
    })
  }
}
