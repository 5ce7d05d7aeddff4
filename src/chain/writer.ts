import type { CID } from 'multiformats/cid'
import type { EncodedBlock } from '../codec/encode.ts'
import { cidKey } from '../codec/cid.ts'
import { InvalidBlockError } from '../codec/errors.ts'
import type { StoredBlock } from '../codec/types.ts'
import { assertHeight } from '../codec/validate.ts'
import { slicer } from '../scheduling.ts'
import type { BlockRecords, HeightIndex } from '../indexes/heights.ts'
import type { Logger } from '../logger.ts'
import { ChainHoleError, HeightConflictError, ParentNotFoundError } from './errors.ts'
import type { StoreBatch } from '../storage/level.ts'
import type { SerialLock } from '../storage/types.ts'
import { setHeadInBatch, writeFinalizedInBatch, type ChainMeta } from './meta.ts'
import { reorg, type ReorgDeps } from './reorg.ts'
import { blockEvent, storedResult } from './results.ts'
import type {
  AfterCommit, BlockEvent, CommitListener, Committed, FinalityStage, Head, ImportResult, ReorgEvent, StoreOptions, WriteStage
} from './types.ts'

/** What the write pipeline is built from. */
export interface ChainWriterInit {
  meta: ChainMeta
  heights: HeightIndex
  records: BlockRecords
  /** Stages in order; each adds its entries to the one batch of a write. */
  stages: WriteStage[]
  /** Stages that follow finality (the chain pins). */
  finality: FinalityStage[]
  /** Under the write lock, after the batch is durable, in order. */
  onCommit: CommitListener[]
  /** After the lock, for local writes, in order. */
  afterCommit: AfterCommit[]
  startBatch: () => StoreBatch
  /** The store's write lock: parent checks and the head see every earlier write. */
  lock: SerialLock
  assertOpen: () => void
  /** Throws WriteFailedError once a write to LevelDB failed (the store fails stop until reopened). */
  assertWritable: () => void
  sync: boolean
  allowGaps: boolean
  /** After a reorg, under the lock: nothing keyed by height may be served stale; then the `reorg` / `head` events. */
  reorged: (event: ReorgEvent) => void
  /** Rebuilds a stored block from its bytes (reorgs re-index whole blocks). */
  readEncoded: ReorgDeps['readEncoded']
  postings: ReorgDeps['postings']
  log: Logger
}

/** A batch plan: what each input became and which blocks to write where. */
interface Plan<R> {
  results: R[]
  write: Array<{ block: EncodedBlock, canonical: boolean, event: BlockEvent }>
  head: Head | null
}

/**
 * The chain as a staged batch will leave it, for planning the next batch
 * while this one is written: its head and its blocks by CID and height.
 */
interface PendingView {
  head: Head | null
  /** Heights by {@link cidKey}. */
  byCid: Map<string, number>
  byHeight: Map<number, CID>
}

/** A batch staged (every stage ran) but not yet durable. */
interface Staged<R> {
  plan: Plan<R>
  batch: StoreBatch
  before: Head | null
  moved: boolean
  view: PendingView
}

/**
 * A write waiting for its turn at the writer: a local write (extends the
 * canonical chain; refused while the chain has a hole) or a replicated
 * import (may start side branches; fills holes).
 */
type QueuedWrite =
  | { kind: 'local', encoded: EncodedBlock[], resolve: (value: { stored: StoredBlock[], committed: Committed | null }) => void, reject: (err: unknown) => void }
  | { kind: 'import', encoded: EncodedBlock[], resolve: (value: ImportResult[]) => void, reject: (err: unknown) => void }

/** A staged write whose batch is being written. */
interface InFlight {
  write: QueuedWrite
  staged: Staged<StoredBlock | ImportResult>
  writing: Promise<void> | null
}

/**
 * Local writes one lock turn takes at most before it lets other work on the
 * lock (imports, pins, finality, cache fills) have a turn.
 */
const MAX_WRITES_PER_TURN = 16

/**
 * The one write pipeline: plan (links, dedupe, where each block goes) → every
 * stage adds its entries to ONE LevelDB batch (bytes, indexes, pins, meta) →
 * write → commit listeners in order. Local writes and replicated imports
 * differ only in their plan.
 */
export class ChainWriter {
  readonly #i: ChainWriterInit
  /** Why local writes are refused (heights lost below the head), or null. */
  #damage: string | null = null

  constructor (init: ChainWriterInit) {
    this.#i = init
  }

  /** Runs `fn` under the write lock with the store still open. */
  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    return await this.#i.lock.run(async () => { this.#i.assertOpen(); return await fn() })
  }

  /** Refuses local writes (ChainHoleError with `reason`) until {@link recheck} finds the chain whole; null lifts it. */
  refuseWrites (reason: string | null): void {
    this.#damage = reason
  }

  /** Why local writes are refused, or null. */
  get damage (): string | null { return this.#damage }

  /**
   * Local write: blocks extend the canonical chain; then the after-commit
   * listeners (finality, announce, quorum). Calls are queued in call order
   * (synchronously) and written one batch after another; the next call's
   * batch is planned and staged while the previous one is being written.
   */
  async store (encoded: EncodedBlock[], options: StoreOptions = {}): Promise<StoredBlock[]> {
    const { stored, committed } = await new Promise<{ stored: StoredBlock[], committed: Committed | null }>((resolve, reject) => {
      this.#enqueue({ kind: 'local', encoded, resolve, reject })
    })
    for (const listener of this.#i.afterCommit) await listener({ encoded, stored, committed }, options)
    return stored
  }

  /** Local writes queued for the writer, in call order. */
  readonly #queue: QueuedWrite[] = []
  #draining = false

  /** Queues a write in call order (synchronously) and starts the turns if none run. */
  #enqueue (write: QueuedWrite): void {
    this.#queue.push(write)
    if (!this.#draining) void this.#drain()
  }

  async #drain (): Promise<void> {
    this.#draining = true
    try {
      while (this.#queue.length > 0) await this.#i.lock.run(async () => { await this.#writeTurn() })
    } finally {
      this.#draining = false
    }
  }

  /**
   * One turn on the lock: up to {@link MAX_WRITES_PER_TURN} queued writes,
   * each planned and staged (JS work) while the batch before it is written
   * (LevelDB's work, off the main thread). The plan sees the chain as the
   * batch in flight leaves it; when that batch fails, the next one is planned
   * again against what is durable.
   */
  async #writeTurn (): Promise<void> {
    let inflight = null as InFlight | null
    let taken = 0
    for (;;) {
      const next = taken < MAX_WRITES_PER_TURN ? this.#queue.shift() : undefined
      if (next == null && inflight == null) return
      let staged: Staged<StoredBlock | ImportResult> | null = null
      if (next != null) {
        taken++
        try {
          this.#i.assertOpen()
          // a failed store refuses before planning: a block a refused batch
          // left in LevelDB's memtable is readable but will not survive a
          // reopen, and a plan that deduped against it would acknowledge the
          // block without writing it (the same holds for importBlocks)
          this.#i.assertWritable()
          const prior = inflight?.staged.view ?? null
          if (next.kind === 'import') staged = await this.#stage(this.#planImport(next.encoded, prior), prior)
          else {
            if (this.#damage != null) throw new ChainHoleError(`local writes refused: ${this.#damage}; run \`chainstore verify --repair\` or let peers fill the missing heights`)
            staged = await this.#stage(this.#planLocal(next.encoded, prior), prior)
          }
        } catch (err) {
          next.reject(err)
        }
      }
      if (inflight != null) {
        try {
          if (inflight.writing != null) await inflight.writing
          const w = inflight.write
          const committed = this.#finish(inflight.staged, w.kind === 'import')
          if (w.kind === 'import') w.resolve(inflight.staged.plan.results as ImportResult[])
          else w.resolve({ stored: inflight.staged.plan.results as StoredBlock[], committed })
        } catch (err) {
          inflight.write.reject(err)
          // planned on top of a batch that never landed: plan it again against what is durable
          if (staged != null && next != null) {
            for (const s of this.#i.stages) s.abandoned?.(staged.batch)
            this.#queue.unshift(next); taken--; staged = null
          }
          // then the failed batch itself, last staged first
          for (const s of this.#i.stages) s.abandoned?.(inflight.staged.batch)
        }
        inflight = null
      }
      if (next != null && staged != null) {
        const writing: Promise<void> | null = staged.plan.write.length > 0 ? staged.batch.write(this.#i.sync) : null
        // awaited on the next pass; a failure before then must not count as unhandled
        writing?.catch(() => {})
        inflight = { write: next, staged, writing }
      }
    }
  }

  /**
   * Replicated import of blocks already rebuilt and verified from their
   * bytes: a block that extends the canonical tip is indexed at once; any
   * other goes on a side branch until {@link setCanonical} picks it. Imports
   * queue with local writes, in call order, and are pipelined the same way:
   * the next call's batch is planned and staged while this one is written.
   */
  async importBlocks (blocks: EncodedBlock[]): Promise<ImportResult[]> {
    return await new Promise<ImportResult[]>((resolve, reject) => {
      this.#enqueue({ kind: 'import', encoded: blocks, resolve, reject })
    })
  }

  /**
   * Every stage adds the plan's entries to one batch (not written yet).
   * `prior` is the batch in flight this one follows (null: the durable chain).
   */
  async #stage<R> (plan: Plan<R>, prior: PendingView | null): Promise<Staged<R>> {
    const { meta, stages, heights } = this.#i
    const before = prior != null ? prior.head : meta.head()
    const batch = this.#i.startBatch()
    const view: PendingView = { head: plan.head, byCid: new Map(prior?.byCid), byHeight: new Map(prior?.byHeight) }
    for (const { block, canonical } of plan.write) {
      view.byCid.set(cidKey(block.cid), block.height)
      if (canonical) view.byHeight.set(block.height, block.cid)
    }
    if (plan.write.length === 0) return { plan, batch, before, moved: false, view }
    // pins follow the policy at the head this batch ends with
    const pinHead = plan.head?.height ?? -1
    // staged in slices (under the lock: no other write meanwhile), so requests and timers run between blocks
    const slice = slicer()
    const moved = plan.head !== before && plan.head != null
    try {
      for (const { block, canonical } of plan.write) {
        const ctx = { canonical, head: pinHead }
        for (const s of stages) s.stage(batch, block, ctx)
        await slice.maybeYield()
      }
      if (moved) {
        setHeadInBatch(batch, plan.head!)
        const at = (height: number): CID | undefined => view.byHeight.get(height) ?? heights.at(height)
        for (const s of stages) s.headMoved?.(batch, before?.height ?? -1, plan.head!.height, at)
      }
    } catch (err) {
      for (const s of stages) s.abandoned?.(batch)
      throw err
    }
    return { plan, batch, before, moved, view }
  }

  /** After the batch is durable: the new head, then the commit listeners in order. */
  #finish<R> (staged: Staged<R>, replicated: boolean): Committed | null {
    const { plan, moved } = staged
    if (plan.write.length === 0) return null
    this.#i.meta.setHead(plan.head)
    const committed: Committed = { replicated, blocks: plan.write.map(w => ({ block: w.block, canonical: w.canonical })), events: plan.write.map(w => w.event), head: plan.head, moved }
    for (const listener of this.#i.onCommit) listener(committed)
    return committed
  }

  /** Applies dedupe, height-conflict and parent rules to a local write. */
  #planLocal (encoded: EncodedBlock[], prior: PendingView | null): Plan<StoredBlock> {
    // blocks of the batch in flight count as stored (for dedupe, heights and parents)
    const pending = new Map<string, number>(prior?.byCid)
    const pendingHeights = new Map<number, CID>(prior?.byHeight)
    const plan: Plan<StoredBlock> = { results: new Array(encoded.length), write: [], head: prior != null ? prior.head : this.#i.meta.head() }
    const order = encoded.map((b, i) => i).sort((a, b) => encoded[a].height - encoded[b].height)
    for (const i of order) {
      const block = encoded[i]
      const key = cidKey(block.cid)
      const result = storedResult(block)
      plan.results[i] = result
      if (pending.has(key) || this.#i.records.heightOf(block.cid) != null) continue
      const other = pendingHeights.get(block.height) ?? this.#i.heights.at(block.height)
      if (other != null) throw new HeightConflictError(`height ${block.height}: block ${other.toString()} is already stored there; ${block.cid.toString()} conflicts with it`)
      const parentHeight = this.#parentHeight(block, pending)
      if (block.parent != null && parentHeight != null && !pending.has(cidKey(block.parent)) && !this.#i.heights.isCanonical(block.parent, parentHeight)) {
        throw new InvalidBlockError(`block ${block.height}: parent ${block.parent.toString()} is on a side branch; local writes extend the canonical chain`)
      }
      pending.set(key, block.height)
      pendingHeights.set(block.height, block.cid)
      result.created = true
      plan.write.push({ block, canonical: true, event: blockEvent(result) })
    }
    for (const { block } of plan.write) {
      if (plan.head == null || block.height > plan.head.height) plan.head = { height: block.height, cid: block.cid }
    }
    return plan
  }

  /** Dedupe and parent rules of a replicated import; a block that does not extend the tip goes on a side branch. */
  #planImport (blocks: EncodedBlock[], prior: PendingView | null): Plan<ImportResult> {
    // blocks of the batch in flight count as stored (for dedupe, parents and the tip they extend)
    const pending = new Map<string, number>(prior?.byCid)
    const plan: Plan<ImportResult> = { results: [], write: [], head: prior != null ? prior.head : this.#i.meta.head() }
    for (const block of [...blocks].sort((a, b) => a.height - b.height)) {
      const key = cidKey(block.cid)
      if (pending.has(key) || this.#i.records.heightOf(block.cid) != null) {
        plan.results.push({ cid: block.cid, height: block.height, created: false, canonical: this.#canonicalIn(prior, block.cid, block.height) })
        continue
      }
      this.#parentHeight(block, pending)
      const head = plan.head
      const canonical = head == null
        ? block.parent == null || this.#i.allowGaps
        : block.parent != null && block.parent.equals(head.cid) && block.height === head.height + 1
      if (canonical) plan.head = { height: block.height, cid: block.cid }
      pending.set(key, block.height)
      const result = { cid: block.cid, height: block.height, created: true, canonical }
      plan.results.push(result)
      plan.write.push({ block, canonical, event: result })
    }
    return plan
  }

  /** Whether `cid` is canonical at `height` once the batch in flight (if any) is written: it decides the heights it writes. */
  #canonicalIn (prior: PendingView | null, cid: CID, height: number): boolean {
    const pending = prior?.byHeight.get(height)
    return pending != null ? pending.equals(cid) : this.#i.heights.isCanonical(cid, height)
  }

  /**
   * The parent's height (stored or earlier in the same batch), or undefined
   * for a root or an allowed gap; throws when the parent is missing (gaps
   * refused) or at the wrong height.
   */
  #parentHeight (block: EncodedBlock, pending: Map<string, number>): number | undefined {
    if (block.parent == null) return undefined
    const parentHeight = pending.get(cidKey(block.parent)) ?? this.#i.records.heightOf(block.parent)
    if (parentHeight == null && !this.#i.allowGaps) throw new ParentNotFoundError(`block ${block.height}: parent ${block.parent.toString()} is not stored (config allowGaps is false)`)
    if (parentHeight != null && parentHeight !== block.height - 1) throw new InvalidBlockError(`block ${block.height}: parent ${block.parent.toString()} is at height ${parentHeight}, expected ${block.height - 1}`)
    return parentHeight
  }

  /**
   * Marks the canonical chain final up to `height` (capped at the head). The
   * finality stages (the chain pins) add their entries to the same batch and
   * start their follow-up work once it is durable.
   */
  async setFinalized (height: number): Promise<void> {
    this.#i.assertOpen()
    assertHeight(height)
    const after: Array<() => void> = []
    await this.exclusive(async () => {
      const { meta } = this.#i
      const head = meta.head()?.height ?? -1
      const from = meta.finalized()
      const to = Math.min(height, head)
      if (to <= from) return
      const batch = this.#i.startBatch()
      writeFinalizedInBatch(batch, to)
      meta.setFinalized(to)
      try {
        for (const s of this.#i.finality) {
          const next = s.finalityMoved(batch, from, to, head)
          if (next != null) after.push(next)
        }
        await batch.write(this.#i.sync)
      } catch (err) {
        meta.setFinalized(from)
        after.length = 0
        throw err
      }
      this.#i.log.debug({ from, to }, 'finalized')
    })
    for (const next of after) next()
  }

  /** Makes `tip` the canonical head; see {@link reorg}. Emits `reorg` when canonical blocks were replaced, and `head`. */
  async setCanonical (tip: Parameters<typeof reorg>[1]): Promise<ReorgEvent | null> {
    return await this.exclusive(async () => {
      const event = await reorg(this.#i, tip)
      if (event == null) return null
      if (event.removed.length > 0) {
        this.#i.log.info({ from: event.from?.height, to: event.to.height, forkHeight: event.forkHeight, removed: event.removed.length, added: event.added.length }, 'reorg')
      }
      this.#i.reorged(event)
      return event
    })
  }
}
