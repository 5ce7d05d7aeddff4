import type { Libp2p } from '@libp2p/interface'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import type { Consistency } from '../chain/types.ts'
import { Acks, type WrittenBlock } from './acks.ts'
import { Announcer } from './announcer.ts'
import { HEADROOM_FULL_MS, HEADROOM_GRACE_MS, STOP_GRACE_MS } from './constants.ts'
import { Databases } from './databases.ts'
import { PeerDiscovery } from './discovery.ts'
import { ForkChoice, type Announcement } from './fold.ts'
import { ConnectionHeadroom } from './headroom.ts'
import { HEAD_PROTOCOL, HEAD_STREAM_PROTOCOL, MAX_HEAD_IDENTITIES, MAX_LOG_HEADS, serveHead, serveHeadStream, type PeerHead } from './head-protocol.ts'
import { WriterIdentities } from './identities.ts'
import { LogPrefetch } from './log-prefetch.ts'
import { Peers } from './peers.ts'
import { ACK_PROTOCOL, BLOCKS_PROTOCOL, LOG_PROTOCOL, serveAck, serveBlocks, serveLog } from './protocol.ts'
import { Rejections } from './rejections.ts'
import type { Reputation } from './reputation.ts'
import { Sync } from './sync.ts'
import type { PeerInfo, QueueEntry, ReplicationComponents, ReplicationContext, ReplicationInit, ReplicationStats } from './types.ts'
import type { AttestationLog } from './attestation-log.ts'
import type { ValidatorState } from './validators.ts'

export type { Consistency }
export type { PeerInfo, ReplicationStats } from './types.ts'

/** The replication service, js-libp2p style: `replication(init)(components)`; start and stop it with the node. */
export function replication (init: ReplicationInit): (components: ReplicationComponents) => Replicator {
  return components => new Replicator(init, components)
}

/**
 * Replication of one node, composed of its parts: the databases (chain
 * index, validator state, reputation, attestations), the announcer, sync
 * (blocks by CID over BLOCKS_PROTOCOL with bitswap as fallback), replica
 * confirmations with their persistent queue, peers (dialling, reputation,
 * head polls, anti-entropy), the log prefetch and the rejections. This class
 * starts and stops them and is what the node and tools call.
 */
export class Replicator {
  readonly stats: ReplicationStats = {
    startedAt: 0, announced: 0, announceFailures: 0, announcementEntries: 0, announcementsApplied: 0, logEntriesPrefetched: 0, rejected: 0, rejectedByReason: {}, blocksFetched: 0, bytesFetched: 0, duplicateFetches: 0,
    fetchFailures: 0, misbehaving: 0, bitswapFallbacks: 0, quorumWrites: 0, quorumFailures: 0, acksServed: 0, queued: 0, resyncs: 0, connectionsTrimmed: 0
  }

  readonly fold = new ForkChoice()
  /** Connected peers' heads, refreshed every tick (HEAD_PROTOCOL). */
  readonly peerHeads: ReplicationContext['peerHeads'] = new Map()
  readonly #ctx: ReplicationContext
  readonly #dbs: Databases
  readonly #announcer: Announcer
  readonly #sync: Sync
  readonly #acks: Acks
  readonly #peers: Peers
  readonly #rejections: Rejections
  readonly #prefetch: LogPrefetch
  /** The validator set's identity blocks, fetched as soon as a peer names one (not when an entry needs it). */
  readonly #identities: WriterIdentities
  /** Peer announcements on the network's gossipsub (null: `network.discovery` off). */
  readonly #discovery: PeerDiscovery | null
  readonly #headroom: ConnectionHeadroom
  readonly #abort = new AbortController()
  /** Head streams this node serves (HEAD_STREAM_PROTOCOL), ended at stop. */
  readonly #headStreams = new Set<{ abort: (err: Error) => void }>()
  #timer: NodeJS.Timeout | null = null
  #stopped = false

  constructor (init: ReplicationInit, components: ReplicationComponents) {
    const ctx: ReplicationContext = {
      init,
      net: init.network,
      components,
      chain: components.chain,
      blocks: components.blocks,
      libp2p: components.libp2p,
      log: components.logger.child({ room: 'replication' }),
      kv: components.kv<any>('replication'),
      stats: this.stats,
      fold: this.fold,
      peerHeads: this.peerHeads,
      signal: this.#abort.signal,
      stopped: () => this.#stopped,
      peerId: () => this.peerId,
      reputation: () => this.#dbs.reputation as Reputation | undefined,
      peers: undefined as unknown as Peers,
      sync: undefined as unknown as Sync,
      announce: list => { this.#announcer.announce(list) }
    }
    this.#ctx = ctx
    this.#dbs = new Databases(ctx)
    this.#announcer = new Announcer(ctx, async value => await this.#dbs.chain.add(value))
    this.#rejections = new Rejections(ctx)
    this.#sync = new Sync(ctx, () => this.#dbs.chain)
    this.#identities = new WriterIdentities({
      writers: () => this.#dbs.writers(),
      read: async (hash, signal) => {
        // through the block source (local, else connected peers, verified), then OrbitDB's decoder
        await this.#sync.getBytes(CID.parse(hash, base58btc), signal)
        return await this.#dbs.orbitdb.identities.getIdentity(hash)
      },
      verify: async identity => await this.#dbs.orbitdb.identities.verifyIdentity(identity) as boolean,
      timeoutMs: init.network.fetchTimeoutMs,
      signal: this.#abort.signal,
      log: ctx.log
    })
    this.#peers = new Peers(ctx, { databases: () => this.#dbs.byName(), refused: hash => this.#rejections.refused(hash), identities: hashes => { this.#identities.offer(hashes) } })
    this.#acks = new Acks(ctx)
    this.#prefetch = new LogPrefetch(ctx)
    this.#discovery = init.network.discovery
      ? new PeerDiscovery({ libp2p: ctx.libp2p, network: init.network.name, minConnections: init.network.minConnections, isBanned: peer => this.#dbs.reputation?.isBanned(peer) === true, log: ctx.log })
      : null
    this.#headroom = new ConnectionHeadroom({
      libp2p: ctx.libp2p,
      maxConnections: init.network.maxConnections,
      minConnections: init.network.minConnections,
      graceMs: HEADROOM_GRACE_MS,
      fullMs: HEADROOM_FULL_MS,
      score: peer => this.#dbs.reputation?.score(peer).score ?? 1,
      log: ctx.log
    })
    ctx.peers = this.#peers
    ctx.sync = this.#sync
  }

  get libp2p (): Libp2p { return this.#ctx.libp2p }
  /** The OrbitDB instance (for tools and fault tests). */
  get orbitdb (): any { return this.#dbs.orbitdb }
  get peerId (): string { return this.libp2p.peerId.toString() }
  /** OrbitDB identity id of this node (hex public key). */
  get identityId (): string { return this.#dbs.identityId }
  /** Peer reputation (set once the databases are open). */
  get reputation (): Reputation { return this.#dbs.reputation }
  /** The attestations log, when the node keeps attestations. */
  get attestationLog (): AttestationLog | null { return this.#dbs.attestationLog }
  /** Peer discovery: peers known, announcements heard, peers dialled (null: `network.discovery` off). */
  get discovery (): { known: number, heard: number, dialled: number } | null {
    const d = this.#discovery
    return d == null ? null : { known: d.known, heard: d.heard, dialled: d.dialled }
  }

  /** What the chain-index fold holds: blocks, the checkpoint height (-1: none), the entry hashes remembered, and entries read by walks back. */
  get foldMemory (): { fold: number, checkpoint: number, seen: number, walked: number } {
    return { fold: this.fold.size, checkpoint: this.fold.checkpointHeight, seen: this.#sync.seenSize, walked: this.#sync.walked }
  }

  /** Identity blocks of the validator set held here (fetched eagerly from peers that name them). */
  get writerIdentities (): { hashes: string[], learned: number } { return { hashes: this.#identities.hashes(), learned: this.#identities.learned } }

  /** Signature checks of log entries and identities: run in full vs answered from memory. */
  get signatureChecks (): { checked: number, remembered: number } { return { checked: this.#dbs.signatures.checked, remembered: this.#dbs.signatures.hits } }

  async start (): Promise<void> {
    const { chain, net, log } = this.#ctx
    this.stats.startedAt = Date.now()
    await this.#dbs.createOrbit()
    // a fresh node takes the chain log's entry blocks in one stream before
    // OrbitDB opens the log, so its join walks local blocks (see LogPrefetch)
    if (chain.head() == null && net.peers.length > 0) {
      await this.#peers.dialConfigured()
      await this.#prefetch.run().catch(err => log.debug({ err: (err as Error).message }, 'log prefetch failed'))
    }
    await this.#dbs.open(r => { this.#rejections.rejected(r) })
    // attribute gossiped heads to the peer that sent them (for rejected entries)
    this.#rejections.listen()
    this.#dbs.chain.events.on('update', (entry: any) => {
      this.#identities.offer([entry?.identity])
      this.#sync.onEntry(entry).catch(err => log.error({ err }, 'chain entry'))
    })
    this.#dbs.validators.events.on('update', (entry: any) => { this.#identities.offer([entry?.identity]) })
    // this node's own identity, when it is a writer: named to peers from the first head reply
    this.#identities.offer([this.#dbs.orbitdb.identity.hash])
    this.#dbs.chain.events.on('join', (peerId: any, heads: any[]) => { this.#rejections.joined(String(peerId), heads) })
    await this.#handleProtocols()
    this.#discovery?.start()
    // the log as it is on disk: fold every entry once
    for await (const e of this.#dbs.chain.log.iterator()) this.#sync.apply(e)
    await this.#announcer.load()
    this.stats.queued = await this.#acks.count()
    await this.#announcer.announceUnannounced()
    await this.#peers.dialConfigured()
    await this.#discovery?.tick()
    this.#timer = setInterval(() => { this.#tick().catch(err => log.warn({ err }, 'replication tick')) }, net.intervalMs)
    this.#timer.unref()
    this.#sync.schedule()
    log.info({ peerId: this.peerId, identity: this.identityId, addresses: this.addresses(), chain: this.#dbs.chain.address }, 'replication started')
  }

  async #handleProtocols (): Promise<void> {
    const { libp2p, chain, net, log } = this.#ctx
    await libp2p.handle(BLOCKS_PROTOCOL, (stream: any) => serveBlocks(stream, chain, err => log.debug({ err }, 'blocks request failed')), { maxInboundStreams: 64 })
    await libp2p.handle(ACK_PROTOCOL, (stream: any, connection: any) =>
      serveAck(stream, connection, async (peer, cids, signal) => await this.#acks.ensure(peer, cids, signal), net.quorumTimeoutMs,
        err => log.debug({ err }, 'ack request failed')), { maxInboundStreams: 64 })
    await libp2p.handle(LOG_PROTOCOL, (stream: any) => serveLog(stream, () => this.#sync.logBlocks(), err => log.debug({ err }, 'log request failed')), { maxInboundStreams: 8 })
    const head = async (): Promise<PeerHead> => {
      const head = chain.head()
      const logs: Record<string, string[]> = {}
      for (const [name, db] of Object.entries(this.#dbs.byName())) logs[name] = (await db.log.heads()).slice(0, MAX_LOG_HEADS).map((e: any) => String(e.hash))
      return { height: head?.height ?? -1, cid: head?.cid.toString() ?? null, finalized: Math.min(chain.finalizedHeight(), head?.height ?? -1), logs, identities: this.#identities.hashes().slice(0, MAX_HEAD_IDENTITIES) }
    }
    const failed = (err: unknown): void => { log.debug({ err }, 'head request failed') }
    await libp2p.handle(HEAD_PROTOCOL, (stream: any) => serveHead(stream, head, failed), { maxInboundStreams: 16 })
    // long-lived: one stream per asking peer and connection, kept until it ends; ended at stop (a host libp2p outlives this store)
    await libp2p.handle(HEAD_STREAM_PROTOCOL, (stream: any) => {
      this.#headStreams.add(stream)
      void serveHeadStream(stream, head, failed).finally(() => this.#headStreams.delete(stream))
    }, { maxInboundStreams: 16 })
  }

  async #tick (): Promise<void> {
    if (this.#stopped) return
    this.#announcer.announce([])
    await this.#peers.dialConfigured()
    await this.#discovery?.tick()
    await this.#acks.retry()
    await this.#dbs.reputation.flush()
    await this.#peers.pollHeads()
    await this.#peers.disconnectBad()
    if (await this.#headroom.trim() != null) this.stats.connectionsTrimmed++
    this.#sync.schedule()
  }

  /** The node's listen addresses, with its peer id. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#abort.abort()
    if (this.#timer != null) clearInterval(this.#timer)
    this.#discovery?.stop()
    await this.#announcer.flushed().catch(() => {})
    await this.#sync.idle().catch(() => {})
    await this.#dbs.reputation?.flush().catch(() => {})
    await this.libp2p.unhandle([BLOCKS_PROTOCOL, ACK_PROTOCOL, LOG_PROTOCOL, HEAD_PROTOCOL, HEAD_STREAM_PROTOCOL]).catch(() => {})
    this.#peers.close()
    for (const s of this.#headStreams) s.abort(new Error('stopping'))
    this.#headStreams.clear()
    // a host libp2p outlives this store: leave nothing of ours on it
    this.#rejections.stop()
    await this.#dbs.close(STOP_GRACE_MS)
  }

  /** Called after blocks are durably stored locally: queue, announce, and wait for replicas as `consistency` asks. */
  async afterLocalWrite (blocks: WrittenBlock[], options: { consistency?: Consistency, weight?: number, finalized?: boolean } = {}): Promise<void> {
    await this.#acks.afterLocalWrite(blocks, options)
  }

  /** Marks a stored block finalized in the chain index. */
  finalize (block: WrittenBlock, weight = 1): void {
    this.announce([{ cid: block.cid.toString(), height: block.height, parent: block.parent?.toString() ?? null, weight, finalized: true, txCount: block.txCount }])
  }

  /** Queues announcements; one chain-log entry carries everything queued while the previous append ran. */
  announce (list: Announcement[]): void {
    this.#announcer.announce(list)
  }

  /** Resolves once every queued announcement is in the chain log. */
  async flushAnnouncements (): Promise<void> {
    await this.#announcer.flushed()
  }

  /** Announcements still waiting for an append (after a failed one, until the next tick). */
  get pendingAnnouncements (): number {
    return this.#announcer.pending
  }

  /** Resolves when queued announcements are appended and the current sync round (if any) is done. */
  async idle (): Promise<void> {
    await this.#announcer.flushed()
    await this.#sync.idle()
  }

  /** Blocks the replicated databases need that no pin record holds (entries, identities, manifests, prefetched entries): GC keeps these. */
  async keepRoots (): Promise<CID[]> {
    return [...this.#prefetch.prefetched, ...this.#identities.hashes().map(h => CID.parse(h, base58btc)), ...await this.#dbs.roots()]
  }

  /** Bytes of any block from the network (bitswap through Helia), verified against the CID. */
  async getBytes (cid: CID, signal: AbortSignal): Promise<Uint8Array> {
    return await this.#sync.getBytes(cid, signal)
  }

  /** The replication queue's entries (oldest heights first), for status and tests. */
  async queue (limit = 1000): Promise<Array<QueueEntry & { cid: string }>> {
    return await this.#acks.queue(limit)
  }

  /** Dials a peer (a multiaddr with /p2p/<id>). */
  async dial (addr: string): Promise<void> {
    await this.#peers.dial(addr)
  }

  /** How many heights a peer trails the best chain this node knows; null before its first head reply. */
  lagOf (peer: string): number | null {
    return this.#peers.lagOf(peer)
  }

  /** Connected peers with their aggregate reputation. */
  async peers (): Promise<PeerInfo[]> {
    return await this.#peers.list()
  }

  /** Writes a validator's state (writers only; others' writes are refused on every replica). */
  async putValidator (id: string, state: ValidatorState): Promise<void> {
    await this.#dbs.putValidator(id, state)
  }

  async getValidator (id: string): Promise<ValidatorState | undefined> {
    return this.#dbs.validatorState.get(id)
  }

  /**
   * Validator state: the validators log folded last-writer-wins per key by
   * (Lamport time, writer id, entry hash), so peers holding the same entries
   * agree whatever order they arrived in (docs/FAULTS.md, finding 4).
   */
  async validators (): Promise<Array<{ id: string, state: ValidatorState }>> {
    return this.#dbs.validatorState.list().map(([id, state]) => ({ id, state }))
  }

  /** OrbitDB addresses of the three databases. */
  addressesOfDatabases (): { chain: string, validators: string, reputation: string } {
    return this.#dbs.addresses()
  }
}
