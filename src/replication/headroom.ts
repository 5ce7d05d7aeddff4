import type { Connection, Libp2p } from '@libp2p/interface'
import type { Logger } from '../logger.ts'

/** What the headroom keeper needs from the node. */
export interface HeadroomInit {
  libp2p: Libp2p
  /** libp2p's hard limit (`network.maxConnections`): inbound connections beyond it are refused. */
  maxConnections: number
  /** The floor (`network.minConnections`): trimming never goes below it. */
  minConnections: number
  /** A connection younger than this is never closed to make room (a newcomer needs time to learn of other peers). */
  graceMs: number
  /** How long the node stays at its limit before it closes one (and between two closes). */
  fullMs: number
  /** The peer's reputation score (higher is better). */
  score: (peer: string) => number
  log: Logger
}

/**
 * Keeps one connection slot free for newcomers. libp2p refuses every inbound
 * connection once `maxConnections` are open, so a node that is full stays
 * full: a newcomer whose bootstrap list names only full nodes never gets in
 * (the scale test's late joiner could wait forever). Like go-libp2p's high
 * and low watermarks, or Bitcoin Core's eviction of an inbound peer when a
 * new one arrives: libp2p's limit stays the hard cap (never exceeded), and a
 * node that has stayed at it for `fullMs` closes one connection past its
 * grace period, so a newcomer finds room within `fullMs` and a tick or two.
 * Not every tick: closing as soon as a node was full thinned a 12-peer
 * network at 4 connections to ~2.4 per peer, with a lag p99 of 44-48 s in
 * both runs against 18-55 s (median 24.5) before (docs/SCALING.md). Nothing
 * is trimmed when `maxConnections - 1` would fall below `minConnections`.
 *
 * Which connection goes: a second connection to a peer already connected
 * (simultaneous dials), else the peer with the lowest reputation, inbound
 * before outbound (this node chose its outbound peers), then the most
 * recently opened: long-lived connections are the stable part of the
 * overlay. The peer that loses it redials only if that leaves it below its
 * own `minConnections`, and then through discovery, to nodes that have room.
 */
export class ConnectionHeadroom {
  readonly #i: HeadroomInit
  /** Since when the node has been at its limit (null: below it). */
  #fullSince: number | null = null

  constructor (init: HeadroomInit) {
    this.#i = init
  }

  /** Closes one connection when the node has been at its limit for `fullMs`; returns the peer it left, or null. */
  async trim (now = Date.now()): Promise<string | null> {
    const { libp2p, maxConnections, minConnections, graceMs, fullMs, score, log } = this.#i
    const connections = libp2p.getConnections()
    if (connections.length < maxConnections || maxConnections - 1 < minConnections) {
      this.#fullSince = null
      return null
    }
    this.#fullSince ??= now
    if (now - this.#fullSince < fullMs) return null
    const victim = pick(connections, now - graceMs, score)
    if (victim == null) return null
    this.#fullSince = null
    const peer = victim.remotePeer.toString()
    log.debug({ peer, direction: victim.direction, connections: connections.length }, 'closing a connection to keep a slot free')
    try {
      await victim.close({ signal: AbortSignal.timeout(2_000) })
    } catch (err) {
      victim.abort(err as Error)
    }
    return peer
  }
}

/** The connection to close (see {@link ConnectionHeadroom}), among those opened before `openedBefore`; null when all are in their grace. */
export function pick (connections: Connection[], openedBefore: number, score: (peer: string) => number): Connection | null {
  const perPeer = new Map<string, number>()
  for (const c of connections) perPeer.set(c.remotePeer.toString(), (perPeer.get(c.remotePeer.toString()) ?? 0) + 1)
  let best: Connection | null = null
  let bestKey: [number, number, number, number] | null = null
  for (const c of connections) {
    if (c.timeline.open >= openedBefore) continue
    const peer = c.remotePeer.toString()
    // lower sorts first: duplicates, low reputation, inbound, newest
    const key: [number, number, number, number] = [perPeer.get(peer)! > 1 ? 0 : 1, score(peer), c.direction === 'inbound' ? 0 : 1, -c.timeline.open]
    if (bestKey == null || less(key, bestKey)) { best = c; bestKey = key }
  }
  return best
}

function less (a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i]
  return false
}
