import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { InvalidBlockError } from '../codec/errors.ts'
import { linksOf } from '../codec/links.ts'
import { walkDag } from '../codec/walk.ts'
import type { Logger } from '../logger.ts'
import { PREFIX, prefixRange, prefixedKey } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'
import { PinFailedError } from './errors.ts'
import type { PinRecord, PinState } from './records.ts'
import type { PinJob } from './types.ts'

export { PinFailedError }
export type { PinJob }



/** Fetched blocks are written this many at a time (one batch each), so a large DAG never sits in memory. */
const FLUSH_BLOCKS = 256
/** Attempts per job before it is `failed`; between them 1 s, then 2 s. */
export const PIN_ATTEMPTS = 3
const RETRY_BASE_MS = 1000

function queueKey (cid: CID): Uint8Array {
  return prefixedKey(PREFIX.PIN_QUEUE, cid.bytes)
}

/** Records a job and its state in a batch (with the pin record), so a restart resumes it and `pins` can list holds by state. */
export function queueInBatch (batch: WriteBatch, job: PinJob, state: Exclude<PinState, 'pinned'>): void {
  const value: Record<string, unknown> = { reason: job.reason, recursive: job.recursive, state }
  if (job.height != null) value.height = job.height
  batch.put(queueKey(job.cid), dagCbor.encode(value))
}

/** Drops a job from the persisted queue. */
export function dequeueInBatch (batch: WriteBatch, cid: CID): void {
  batch.del(queueKey(cid))
}

/** Jobs left in the persisted queue (by a stop or a crash). */
export async function readQueue (db: RootDb): Promise<Array<{ job: PinJob, state: Exclude<PinState, 'pinned'> }>> {
  const out: Array<{ job: PinJob, state: Exclude<PinState, 'pinned'> }> = []
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.PIN_QUEUE)))) {
    const v = dagCbor.decode<any>(value)
    const job: PinJob = { cid: CID.decode(key.subarray(1)), reason: v.reason, recursive: v.recursive === true, ...(typeof v.height === 'number' ? { height: v.height } : {}) }
    out.push({ job, state: v.state === 'failed' || v.state === 'pinning' ? v.state : 'queued' })
  }
  return out
}

/** What the queue needs from the store. */
export interface PinQueueHost {
  /** Bytes stored here, or undefined. */
  localBytes: (cid: CID) => Uint8Array | undefined
  /** Bytes from peers or gateways, verified against the CID. */
  fetch: (cid: CID, signal: AbortSignal) => Promise<Uint8Array>
  /** A link of this block the walk must not follow (a chain header's parent), or null. */
  skipLink: (cid: CID, bytes: Uint8Array) => CID | null
  /** Fetches as much of a missing DAG as one request can (a gateway CAR) before the block-by-block walk; may do nothing. */
  prefetch?: (job: PinJob, signal: AbortSignal) => Promise<void>
  /** Writes fetched blocks (verified) and claims local ones out of the fetch cache, in one batch. */
  store: (fetched: Array<{ cid: CID, bytes: Uint8Array }>, local: CID[]) => Promise<void>
  /** Moves the job's record to `pinning`, `pinned` or `failed`; returns the record. */
  settle: (job: PinJob, state: 'pinning' | 'pinned' | 'failed', error?: string) => Promise<PinRecord | undefined>
}

interface Running {
  job: PinJob
  controller: AbortController
  done: Promise<PinRecord | undefined>
}

/**
 * Runs pin jobs: walks each DAG from its root, fetching and verifying what is
 * missing, writing in batches, then marks the record `pinned` (or `failed`
 * after {@link PIN_ATTEMPTS} attempts). `concurrency` jobs at a time; a job
 * for a root already queued or running joins it.
 */
export class PinQueue {
  readonly #host: PinQueueHost
  readonly #log: Logger
  readonly #concurrency: number
  readonly #waiting: Array<{ job: PinJob, start: () => void }> = []
  readonly #jobs = new Map<string, Running>()
  #active = 0
  #stopped = false

  constructor (host: PinQueueHost, log: Logger, concurrency = 2) {
    this.#host = host
    this.#log = log
    this.#concurrency = concurrency
  }

  /** Jobs queued or running. */
  get size (): number { return this.#jobs.size }

  /** True while a job for this root is queued or running. */
  has (cid: CID): boolean { return this.#jobs.has(cid.toString()) }

  /** Starts (or joins) the job for a root; settles with its final record, rejects with PinFailedError. */
  run (job: PinJob): Promise<PinRecord | undefined> {
    const key = job.cid.toString()
    const existing = this.#jobs.get(key)
    if (existing != null) return existing.done
    const controller = new AbortController()
    let start!: () => void
    const started = new Promise<void>(resolve => { start = resolve })
    const done = (async () => {
      await started
      try {
        return await this.#attempts(job, controller.signal)
      } finally {
        this.#jobs.delete(key)
        this.#active--
        this.#next()
      }
    })()
    // a caller that does not wait must not see an unhandled rejection
    done.catch(() => {})
    this.#jobs.set(key, { job, controller, done })
    this.#waiting.push({ job, start })
    this.#next()
    return done
  }

  /** Cancels a root's job (queued or running); it leaves no record state behind, the caller rewrites it. */
  async cancel (cid: CID): Promise<void> {
    const running = this.#jobs.get(cid.toString())
    if (running == null) return
    running.controller.abort(new PinFailedError(`pin of ${cid.toString()} cancelled`))
    const i = this.#waiting.findIndex(w => w.job.cid.equals(cid))
    if (i >= 0) this.#waiting.splice(i, 1)[0].start()
    await running.done.catch(() => {})
  }

  /** Cancels every job; their persisted queue entries stay, so the next open resumes them. */
  async stop (): Promise<void> {
    this.#stopped = true
    const all = [...this.#jobs.values()]
    for (const r of all) r.controller.abort(new PinFailedError('store stopping'))
    for (const w of this.#waiting.splice(0)) w.start()
    await Promise.all(all.map(async r => await r.done.catch(() => {})))
  }

  #next (): void {
    while (this.#active < this.#concurrency && this.#waiting.length > 0) {
      this.#active++
      this.#waiting.shift()!.start()
    }
  }

  async #attempts (job: PinJob, signal: AbortSignal): Promise<PinRecord | undefined> {
    let lastError: unknown
    for (let attempt = 1; attempt <= PIN_ATTEMPTS; attempt++) {
      signal.throwIfAborted()
      if (this.#stopped) throw new PinFailedError('store stopping')
      try {
        await this.#host.settle(job, 'pinning')
        await this.#walk(job, signal)
        return await this.#host.settle(job, 'pinned')
      } catch (err) {
        lastError = err
        if (signal.aborted) throw signal.reason
        // a DAG that does not decode will not decode next time either
        if (err instanceof InvalidBlockError) break
        if (attempt < PIN_ATTEMPTS) {
          this.#log.debug({ cid: job.cid.toString(), attempt, err: (err as Error).message }, 'pin attempt failed, retrying')
          await new Promise(resolve => setTimeout(resolve, RETRY_BASE_MS * attempt).unref())
        }
      }
    }
    const message = (lastError as Error)?.message ?? String(lastError)
    this.#log.warn({ cid: job.cid.toString(), reason: job.reason, err: message }, 'pin failed')
    await this.#host.settle(job, 'failed', message)
    throw new PinFailedError(`pin of ${job.cid.toString()} failed after ${PIN_ATTEMPTS} attempts: ${message}`, { cause: lastError })
  }

  /** Depth-first from the root: parents are stored before their children, so GC marking the record always reaches what is here. */
  async #walk (job: PinJob, signal: AbortSignal): Promise<void> {
    if (this.#host.localBytes(job.cid) == null) await this.#host.prefetch?.(job, signal)
    let fetched: Array<{ cid: CID, bytes: Uint8Array }> = []
    let local: CID[] = []
    const flush = async (): Promise<void> => {
      if (fetched.length === 0 && local.length === 0) return
      await this.#host.store(fetched, local)
      fetched = []
      local = []
    }
    // walk order puts a parent before its children in `fetched`, and batches
    // are written in order: GC marking from the record reaches every block written so far
    const load = async (cid: CID): Promise<Uint8Array> => {
      const bytes = this.#host.localBytes(cid)
      if (bytes != null) { local.push(cid); return bytes }
      const got = await this.#host.fetch(cid, signal)
      fetched.push({ cid, bytes: got })
      return got
    }
    const links = (cid: CID, bytes: Uint8Array): CID[] => {
      const all = linksOf(cid, bytes)
      if (all == null) throw new InvalidBlockError(`cannot follow the links of ${cid.toString()} (codec 0x${cid.code.toString(16)}); pin it root-only`)
      const skip = this.#host.skipLink(cid, bytes)
      return skip == null ? all : all.filter(l => !l.equals(skip))
    }
    for await (const _ of walkDag(job.cid, load, { maxDepth: job.recursive ? Infinity : 0, links, signal })) {
      if (fetched.length + local.length >= FLUSH_BLOCKS) await flush()
    }
    await flush()
  }
}
