import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../logger.ts'

/** Topic of a network's peer announcements. */
export function discoveryTopic (network: string): string {
  return `/chainstore/${network}/peers/1`
}

/** Addresses one announcement may carry, and their longest accepted form. */
const MAX_ADDRS = 8
const MAX_ADDR_CHARS = 256
/** Largest announcement accepted, in bytes. */
const MAX_MESSAGE_BYTES = 4096
/** Peers remembered (the oldest announcement is forgotten first). */
const MAX_KNOWN = 1024
/** Peers dialled at once when below the floor. */
const DIAL_AT_ONCE = 4
const DIAL_TIMEOUT_MS = 3_000
/**
 * Announcements the whole network sends per tick, about: each node publishes
 * with probability ANNOUNCERS / (peers it knows + 1), so what one node hears
 * per tick stays near this many whatever the network's size (every message
 * is flooded to every subscriber), and a newcomer still hears of everyone in
 * ~N / ANNOUNCERS ticks. A node announces at start and while it is below
 * `minConnections` regardless.
 */
const ANNOUNCERS = 32

/** What the discovery needs from the node. */
export interface DiscoveryInit {
  libp2p: Libp2p
  network: string
  /** Below this many connected peers, known peers are dialled. */
  minConnections: number
  /** True for peers this node refuses (banned by reputation). */
  isBanned: (peer: string) => boolean
  log: Logger
}

/**
 * Peer discovery over the network's gossipsub: every node publishes its
 * dialable addresses on one topic (at start and every replication tick),
 * gossipsub's mesh carries them to every subscriber whether or not it is
 * connected to the author (messages are signed: the author is the sender's
 * key, not a claim), and a node with fewer than `minConnections` peers dials
 * peers it learned of. With bounded connections (libp2p's connection
 * manager, `network.maxConnections`) a node starts from its bootstrap list
 * and ends in a connected overlay without anyone listing everyone.
 */
export class PeerDiscovery {
  readonly #i: DiscoveryInit
  readonly #topic: string
  /** Peer id → addresses, in order of the last announcement heard. */
  readonly #known = new Map<string, Multiaddr[]>()
  readonly #onMessage = (evt: CustomEvent<any>): void => { this.#heard(evt.detail) }
  #dialling = false
  announced = 0
  heard = 0
  dialled = 0

  constructor (init: DiscoveryInit) {
    this.#i = init
    this.#topic = discoveryTopic(init.network)
  }

  #pubsub (): any { return (this.#i.libp2p.services as any).pubsub }

  start (): void {
    const pubsub = this.#pubsub()
    pubsub.addEventListener('message', this.#onMessage)
    pubsub.subscribe(this.#topic)
  }

  stop (): void {
    const pubsub = this.#pubsub()
    pubsub.removeEventListener('message', this.#onMessage)
    try { pubsub.unsubscribe(this.#topic) } catch {}
  }

  /** Peers learned of and not yet forgotten. */
  get known (): number { return this.#known.size }

  /** Publishes this node's addresses (see {@link ANNOUNCERS}), then dials known peers while below the floor. */
  async tick (): Promise<void> {
    const lonely = new Set(this.#i.libp2p.getConnections().map(c => c.remotePeer.toString())).size < this.#i.minConnections
    if (this.announced === 0 || lonely || Math.random() < ANNOUNCERS / (this.#known.size + 1)) await this.announce()
    await this.topUp()
  }

  async announce (): Promise<void> {
    const addrs = this.#i.libp2p.getMultiaddrs().map(a => a.decapsulateCode(421).toString()).slice(0, MAX_ADDRS)
    if (addrs.length === 0) return
    try {
      await this.#pubsub().publish(this.#topic, new TextEncoder().encode(JSON.stringify({ addrs })))
      this.announced++
    } catch (err) {
      this.#i.log.debug({ err: (err as Error).message }, 'peer announcement not published')
    }
  }

  #heard (msg: any): void {
    if (msg?.topic !== this.#topic || msg.type !== 'signed' || !(msg.data instanceof Uint8Array)) return
    const from = String(msg.from)
    if (from === this.#i.libp2p.peerId.toString() || msg.data.length > MAX_MESSAGE_BYTES) return
    let addrs: Multiaddr[]
    try {
      const body = JSON.parse(new TextDecoder().decode(msg.data)) as { addrs?: unknown }
      if (!Array.isArray(body.addrs)) return
      addrs = body.addrs.slice(0, MAX_ADDRS).filter((a): a is string => typeof a === 'string' && a.length <= MAX_ADDR_CHARS).map(a => multiaddr(a))
    } catch {
      return
    }
    if (addrs.length === 0) return
    this.heard++
    this.#known.delete(from)
    this.#known.set(from, addrs)
    if (this.#known.size > MAX_KNOWN) this.#known.delete(this.#known.keys().next().value!)
    void this.topUp()
  }

  /** Dials known, unbanned, unconnected peers while fewer than `minConnections` are connected. */
  async topUp (): Promise<void> {
    if (this.#dialling) return
    this.#dialling = true
    try {
      const { libp2p, minConnections, isBanned, log } = this.#i
      const connected = new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))
      const want = minConnections - connected.size
      if (want <= 0) return
      const candidates = [...this.#known.keys()].filter(p => !connected.has(p) && !isBanned(p))
      // most recently heard first: an announcement is a sign of life
      candidates.reverse()
      await Promise.all(candidates.slice(0, Math.min(want, DIAL_AT_ONCE)).map(async peer => {
        const id: PeerId = peerIdFromString(peer)
        try {
          await libp2p.dial(this.#known.get(peer)!.map(a => a.encapsulate(`/p2p/${peer}`)), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
          this.dialled++
        } catch (err) {
          log.debug({ peer: id.toString(), err: (err as Error).message }, 'discovered peer not dialled')
        }
      }))
    } finally {
      this.#dialling = false
    }
  }
}
