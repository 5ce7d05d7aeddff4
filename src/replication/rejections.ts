import { base58btc } from 'multiformats/bases/base58'
import { flat } from '../codec/flat.ts'
import { cidOf } from '../codec/cid.ts'
import type { Rejection } from './access.ts'
import { MAX_ENTRY_SENDERS } from './constants.ts'
import type { ReplicationContext } from './types.ts'

/**
 * Entries the access controller refused, and who sent them: gossiped heads
 * are attributed to their pubsub sender as they arrive, so a refusal charges
 * that peer's reputation; a refusal from a head exchange is charged when
 * OrbitDB reports the join. Anti-entropy never asks again for a refused entry.
 */
export class Rejections {
  readonly #ctx: ReplicationContext
  /** Refused entries whose sender is not known yet (see {@link joined}). */
  readonly #unattributed = new Map<string, Rejection>()
  /** Entry hash → peer that gossiped it. */
  readonly #sender = new Map<string, string>()
  /** Entries this node refused. */
  readonly #refused = new Set<string>()
  #listener: ((evt: any) => void) | null = null

  constructor (ctx: ReplicationContext) {
    this.#ctx = ctx
  }

  /** Starts attributing gossiped entries to the peers that sent them. */
  listen (): void {
    this.#listener = (evt: any) => {
      const m = evt.detail
      if (m?.topic == null || m.data == null) return
      try {
        this.#sender.set(flat(cidOf(m.data).toString(base58btc)), flat(String(m.from ?? '')))
        if (this.#sender.size > MAX_ENTRY_SENDERS) this.#sender.delete(this.#sender.keys().next().value!)
      } catch {}
    }
    ;(this.#ctx.libp2p.services as any).pubsub?.addEventListener?.('message', this.#listener)
  }

  /** Stops listening (a host libp2p outlives the store: nothing of ours stays on it). */
  stop (): void {
    if (this.#listener != null) (this.#ctx.libp2p.services as any).pubsub?.removeEventListener?.('message', this.#listener)
    this.#listener = null
  }

  /** True when this node refused the entry. */
  refused (hash: string): boolean {
    return this.#refused.has(hash)
  }

  /** The access controller refused an entry: count it and charge its sender when known. */
  rejected (r: Rejection): void {
    const { stats, peers } = this.#ctx
    this.#refused.add(flat(r.hash))
    if (this.#refused.size > MAX_ENTRY_SENDERS) this.#refused.delete(this.#refused.keys().next().value!)
    stats.rejected++
    stats.rejectedByReason[r.reason] = (stats.rejectedByReason[r.reason] ?? 0) + 1
    // gossiped heads name their sender before OrbitDB sees them
    const sender = this.#sender.get(r.hash)
    if (sender != null && sender !== '') {
      if (sender !== this.#ctx.peerId()) peers.penalize(sender, `sent entry refused as ${r.reason}`)
      return
    }
    this.#unattributed.set(flat(r.hash), r)
    if (this.#unattributed.size > 1000) this.#unattributed.delete(this.#unattributed.keys().next().value!)
  }

  /**
   * OrbitDB reports a head exchange ('join') after it has processed the
   * heads, so a refusal of one of them happened before we learn who sent it:
   * charge the peer now.
   */
  joined (peerId: string, heads: any[]): void {
    for (const h of heads ?? []) {
      if (h?.hash == null) continue
      const refused = this.#unattributed.get(h.hash)
      if (refused != null) {
        this.#unattributed.delete(h.hash)
        if (peerId !== this.#ctx.peerId()) this.#ctx.peers.penalize(peerId, `sent entry refused as ${refused.reason}`)
      }
    }
  }
}
