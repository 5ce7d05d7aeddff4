import { base58btc } from 'multiformats/bases/base58'
import { flat } from '../codec/flat.ts'
import { sha256Into } from '../codec/cid.ts'
import { CID } from 'multiformats/cid'
import type { Rejection } from './access.ts'
import { MAX_ENTRY_SENDERS } from './constants.ts'
import type { ReplicationContext } from './types.ts'
import { RecentDigests } from './recent-digests.ts'

/** Distinct sender ids kept as flat strings before the list starts again (a ring slot keeps its own). */
const MAX_SENDER_NAMES = 1024

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
  /** Digests of gossiped entries, and beside each (same slot) the peer that sent it. */
  readonly #gossiped = new RecentDigests(MAX_ENTRY_SENDERS)
  readonly #senders: string[] = new Array<string>(MAX_ENTRY_SENDERS).fill('')
  /** One flat copy of each sender's id (a message's peer id builds its string as a rope). */
  readonly #names = new Map<string, string>()
  readonly #digest = new Uint8Array(32)
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
        // an entry's hash is the CID of its bytes: their digest is the key
        sha256Into(m.data, this.#digest, 0)
        this.#senders[this.#gossiped.add(this.#digest)] = this.#name(String(m.from ?? ''))
      } catch {}
    }
    ;(this.#ctx.libp2p.services as any).pubsub?.addEventListener?.('message', this.#listener)
  }

  /** Stops listening (a host libp2p outlives the store: nothing of ours stays on it). */
  stop (): void {
    if (this.#listener != null) (this.#ctx.libp2p.services as any).pubsub?.removeEventListener?.('message', this.#listener)
    this.#listener = null
  }

  #name (id: string): string {
    let name = this.#names.get(id)
    if (name === undefined) {
      if (this.#names.size >= MAX_SENDER_NAMES) this.#names.clear()
      name = flat(id)
      this.#names.set(name, name)
    }
    return name
  }

  #senderOf (entryHash: string): string | undefined {
    let digest: Uint8Array
    try {
      digest = CID.parse(entryHash, base58btc).multihash.digest
    } catch {
      return undefined
    }
    const slot = this.#gossiped.slotOf(digest)
    return slot < 0 ? undefined : this.#senders[slot]
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
    const sender = this.#senderOf(r.hash)
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
