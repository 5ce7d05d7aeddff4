import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { LACK_GRACE_MS, RESYNC_MIN_MS } from './constants.ts'
import { PeerMisbehavedError } from './errors.ts'
import { HEAD_PROTOCOL, HEAD_STREAM_PROTOCOL, HeadStream, requestHead, type PeerHead } from './head-protocol.ts'
import type { PeerScore } from './reputation.ts'
import type { PeerInfo, PeersPart, ReplicationContext } from './types.ts'

/** What the peers part reads of the databases and the refusals. */
export interface PeersInit {
  /** The replicated databases by the names HEAD_PROTOCOL uses. */
  databases: () => Record<string, any>
  /** True when this node refused an entry (anti-entropy never asks for it again). */
  refused: (hash: string) => boolean
  /** Writer identity hashes a peer named in its head reply (fetched eagerly when not held). */
  identities?: (hashes: string[]) => void
}

/**
 * The node's peers: configured peers dialled and redialled, reputation
 * charged for misbehaviour and used to order fetches, heads polled every tick
 * (HEAD_PROTOCOL), and anti-entropy from the log heads a peer reports.
 */
export class Peers implements PeersPart {
  readonly #ctx: ReplicationContext
  readonly #init: PeersInit
  /** Anti-entropy by database and peer: when an exchange was last re-run, and the peer's heads this log lacks with when each was first seen lacking. */
  readonly #entropy = new Map<string, { resyncAt: number, lacking: Map<string, number> }>()
  /** Open head streams (HEAD_STREAM_PROTOCOL) by peer. */
  readonly #heads = new Map<string, HeadStream>()
  #closed = false

  constructor (ctx: ReplicationContext, init: PeersInit) {
    this.#ctx = ctx
    this.#init = init
  }

  penalize (peer: string, why: string): void {
    this.#ctx.stats.misbehaving++
    this.#ctx.log.warn({ peer, why }, 'peer misbehaved')
    this.#ctx.reputation()?.observe(peer, { bad: 1 })
  }

  byReputation (): PeerId[] {
    const reputation = this.#ctx.reputation()
    const seen = new Set<string>()
    const out: PeerId[] = []
    for (const c of this.#ctx.libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      if (seen.has(id) || reputation?.isBanned(id) === true) continue
      seen.add(id)
      out.push(c.remotePeer)
    }
    // before the databases open (the log prefetch) there are no scores yet
    if (reputation == null) return out
    return out.sort((a, b) => reputation.score(b.toString()).score - reputation.score(a.toString()).score)
  }

  /**
   * Dials the configured peers this node is not connected to (and has not
   * banned), while it has fewer than `minConnections` peers (or none): the
   * list is a bootstrap list. Redialling them past the floor would have every
   * node that lists a popular peer knock on it every tick, and a node at its
   * limit makes room by closing a connection (headroom.ts), so the two would
   * churn. A small network (peers ≤ the default floor of 4) keeps every
   * configured peer redialled.
   */
  async dialConfigured (): Promise<void> {
    const { libp2p, net, log } = this.#ctx
    const reputation = this.#ctx.reputation()
    const connected = new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))
    if (connected.size > 0 && connected.size >= net.minConnections) return
    await Promise.all(net.peers.map(async addr => {
      const ma = multiaddr(addr)
      const id = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (id != null && (connected.has(id) || reputation?.isBanned(id) === true)) return
      try {
        await libp2p.dial(ma, { signal: AbortSignal.timeout(3_000) })
      } catch (err) {
        log.debug({ addr, err: (err as Error).message }, 'dial failed')
      }
    }))
  }

  /** Dials a peer (a multiaddr with /p2p/<id>). */
  async dial (addr: string): Promise<void> {
    await this.#ctx.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
  }

  /** Hangs up on the peers whose reputation fell below the floor. */
  async disconnectBad (): Promise<void> {
    const reputation = this.#ctx.reputation()
    if (reputation == null) return
    for (const peer of await reputation.toDisconnect()) {
      this.#ctx.log.warn({ peer }, 'disconnecting peer with low reputation')
      await this.#ctx.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
    }
  }

  /**
   * Asks every connected peer for its head, at once, 2 s each, over the
   * peer's long-lived head stream (opened on first use; HEAD_PROTOCOL, one
   * stream per ask, with a peer that does not speak HEAD_STREAM_PROTOCOL).
   * Peers that left are forgotten.
   */
  async pollHeads (): Promise<void> {
    const { libp2p, peerHeads, log } = this.#ctx
    const connected = new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))
    for (const peer of peerHeads.keys()) if (!connected.has(peer)) peerHeads.delete(peer)
    for (const [peer, s] of this.#heads) if (!connected.has(peer)) { s.abort('peer disconnected'); this.#heads.delete(peer) }
    for (const key of this.#entropy.keys()) if (!connected.has(key.slice(key.indexOf(' ') + 1))) this.#entropy.delete(key)
    await Promise.all([...connected].map(async peer => {
      // a slow reply from the last tick is still awaited: skip this peer this time
      if (this.#heads.get(peer)?.busy === true) return
      try {
        const head = await this.#askHead(peer)
        peerHeads.set(peer, { ...head, at: Date.now() })
        if (head.identities != null) this.#init.identities?.(head.identities)
        if (head.logs != null) await this.#antiEntropy(peer, head.logs)
      } catch (err) {
        if (err instanceof PeerMisbehavedError) log.debug({ peer, err: err.message }, 'bad head reply')
      }
    }))
  }

  async #askHead (peer: string): Promise<PeerHead> {
    const signal = AbortSignal.timeout(2_000)
    let session = this.#heads.get(peer)
    if (session == null) {
      const stream: any = await this.#ctx.libp2p.dialProtocol(peerIdFromString(peer), [HEAD_STREAM_PROTOCOL, HEAD_PROTOCOL], { signal })
      if (stream.protocol !== HEAD_STREAM_PROTOCOL) return await requestHead(stream, peer, signal)
      session = new HeadStream(stream, peer)
      // stopped while dialling: keep nothing open on a host libp2p that outlives this store
      if (this.#closed) { session.abort('stopping'); throw new Error('stopped') }
      this.#heads.set(peer, session)
    }
    try {
      return await session.ask(signal)
    } catch (err) {
      // a stream that failed once is not trusted again: the next tick opens another
      session.abort('head stream failed')
      if (this.#heads.get(peer) === session) this.#heads.delete(peer)
      throw err
    }
  }

  /** Closes the head streams (the node stops). */
  close (): void {
    this.#closed = true
    for (const s of this.#heads.values()) s.abort('stopping')
    this.#heads.clear()
  }

  /**
   * Anti-entropy. OrbitDB exchanges heads with a peer once, when it sees the
   * peer subscribe; a head whose join fails then (a missing ancestor that
   * timed out, a stream reset while a partition heals) is dropped with a
   * console line and never asked for again, so a restarted peer could miss
   * entries until the next write (the partition fault test caught it). When
   * a peer's heads (from its HEAD_PROTOCOL reply) include an entry this
   * node's log lacks and did not refuse, for LACK_GRACE_MS (pubsub usually
   * brings a fresh head first), OrbitDB's own exchange is re-run:
   * the peer is dropped from the database's `peers` (public) and a
   * subscription of the peer to the database's topic is dispatched on
   * pubsub, which is the event OrbitDB's sync starts an exchange from, so
   * the entries arrive through OrbitDB's verify-and-join path. At most once
   * per RESYNC_MIN_MS per database and peer.
   */
  async #antiEntropy (peer: string, logs: Record<string, string[]>): Promise<void> {
    const dbs = this.#init.databases()
    const now = Date.now()
    for (const [name, heads] of Object.entries(logs)) {
      const db = dbs[name]
      if (db == null) continue
      const key = `${name} ${peer}`
      const state = this.#entropy.get(key) ?? { resyncAt: 0, lacking: new Map<string, number>() }
      const lacking = new Map<string, number>()
      for (const h of heads) {
        if (this.#init.refused(h) || (await db.log.has(h) as boolean)) continue
        lacking.set(h, state.lacking.get(h) ?? now)
      }
      state.lacking = lacking
      this.#entropy.set(key, state)
      const overdue = [...lacking].find(([, since]) => now - since >= LACK_GRACE_MS)
      if (overdue == null || now - state.resyncAt < RESYNC_MIN_MS) continue
      state.resyncAt = now
      this.#ctx.stats.resyncs++
      this.#ctx.log.debug({ peer, database: name, head: overdue[0] }, 'peer has a head this log lacks: exchanging heads again')
      db.peers.delete(peer)
      const pubsub = (this.#ctx.libp2p.services as any).pubsub
      pubsub.dispatchEvent(new CustomEvent('subscription-change', { detail: { peerId: peerIdFromString(peer), subscriptions: [{ topic: db.address, subscribe: true }] } }))
    }
  }

  /**
   * How many heights a peer trails the best chain this node knows (the fold's
   * tip or its own head, whichever is higher), from its last head reply; null
   * before one arrived.
   */
  lagOf (peer: string): number | null {
    const head = this.#ctx.peerHeads.get(peer)
    if (head == null) return null
    const best = Math.max(this.#ctx.fold.tip()?.height ?? -1, this.#ctx.chain.head()?.height ?? -1)
    return Math.max(0, best - head.height)
  }

  /** Connected peers with their aggregate reputation. */
  async list (): Promise<PeerInfo[]> {
    const reputation = this.#ctx.reputation()!
    const byPeer = new Map<string, string[]>()
    for (const c of this.#ctx.libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      byPeer.set(id, [...(byPeer.get(id) ?? []), c.remoteAddr.toString()])
    }
    await reputation.refresh()
    return [...byPeer].map(([peerId, addresses]) => {
      const s: PeerScore = reputation.score(peerId)
      const head = this.#ctx.peerHeads.get(peerId)
      return { peerId, addresses, reputation: s.score, observers: s.observers, banned: reputation.isBanned(peerId), head: head == null ? null : { height: head.height, finalized: head.finalized }, lag: this.lagOf(peerId) }
    })
  }
}
