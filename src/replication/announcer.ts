import { decodeHeader } from '../codec/decode.ts'
import { ANNOUNCED_KEY, ANNOUNCE_LINGER_MS } from './constants.ts'
import type { Announcement, AnnouncementBatch } from './fold.ts'
import type { ReplicationContext } from './types.ts'

/**
 * Announcements of locally stored blocks in the chain log: queued, gathered
 * into one entry while the previous append runs (a short linger lets the
 * next few writes join it), retried at the next tick when an append fails,
 * and after a crash re-announced from a persisted marker.
 */
export class Announcer {
  readonly #ctx: ReplicationContext
  readonly #append: (value: AnnouncementBatch) => Promise<unknown>
  #pending: Announcement[] = []
  #flushing: Promise<void> | null = null
  #announcedHeight = -1

  constructor (ctx: ReplicationContext, append: (value: AnnouncementBatch) => Promise<unknown>) {
    this.#ctx = ctx
    this.#append = append
  }

  /** Reads the marker of the highest height announced. */
  async load (): Promise<void> {
    this.#announcedHeight = (await this.#ctx.kv.get(ANNOUNCED_KEY)) ?? -1
  }

  /** Queues announcements; one chain-log entry carries everything queued while the previous append ran. */
  announce (list: Announcement[]): void {
    this.#pending.push(...list)
    if (this.#pending.length === 0) return
    this.#flushing ??= this.#flush().finally(() => { this.#flushing = null })
  }

  /** Resolves once every queued announcement is in the chain log. */
  async flushed (): Promise<void> {
    while (this.#flushing != null) await this.#flushing
  }

  /** Announcements still waiting for an append (after a failed one, until the next tick). */
  get pending (): number {
    return this.#pending.length
  }

  async #flush (): Promise<void> {
    const { net, stats, log } = this.#ctx
    while (this.#pending.length > 0 && !this.#ctx.stopped()) {
      // a short linger gathers the blocks of the next few writes into one entry:
      // a live peer applies ~60-110 entries/s, so one entry per block would
      // fall behind a writer at 100 blocks/s
      if (this.#pending.length < net.announceBatch) await new Promise(resolve => setTimeout(resolve, ANNOUNCE_LINGER_MS))
      const blocks = this.#pending.splice(0, net.announceBatch)
      try {
        await this.#append({ v: 1, blocks })
      } catch (err) {
        // back to the front of the queue; the next replication tick retries
        // (and a restart announces whatever is past the announced marker)
        this.#pending.unshift(...blocks)
        stats.announceFailures++
        log.warn({ err: (err as Error).message, blocks: blocks.length }, 'announcement failed; retrying at the next tick')
        return
      }
      stats.announced += blocks.length
      stats.announcementEntries++
      const top = Math.max(...blocks.map(b => b.height))
      if (top > this.#announcedHeight) {
        this.#announcedHeight = top
        await this.#ctx.kv.put(ANNOUNCED_KEY, top)
      }
    }
  }

  /** A crash between a block's acknowledgement and its announcement loses nothing: announce what the head has past the marker. */
  async announceUnannounced (): Promise<void> {
    const { chain, blocks, fold, log } = this.#ctx
    const head = chain.head()
    if (head == null || head.height <= this.#announcedHeight) return
    const list: Announcement[] = []
    for (let h = this.#announcedHeight + 1; h <= head.height; h++) {
      const cid = chain.canonicalAt(h)
      if (cid == null || fold.get(cid.toString()) != null) continue
      // the header says all an announcement needs: no page is read or hashed at start-up
      const header = decodeHeader(blocks.localBytes(cid)!)
      list.push({ cid: cid.toString(), height: h, parent: header.parent?.toString() ?? null, weight: 1, finalized: false, txCount: header.txCount })
    }
    if (list.length > 0) {
      log.info({ blocks: list.length, from: list[0].height }, 'announcing blocks stored before the last stop')
      this.announce(list)
    }
  }
}
