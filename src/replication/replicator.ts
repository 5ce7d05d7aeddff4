import { join } from 'node:path'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { ComposedStorage, IPFSBlockStorage, Identities, KeyStore, KeyValue, KeyValueIndexed, LRUStorage, createOrbitDB } from '@orbitdb/core'
import type { Helia } from 'helia'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { bytesMatchCid, cidOf } from '../codec/cid.ts'
import { decodeHeader } from '../codec/decode.ts'
import type { EncodedBlock } from '../codec/encode.ts'
import { blockFromBytes } from '../codec/from-bytes.ts'
import type { CodecLimits } from '../codec/types.ts'
import type { BlockSink, ReplicatedChain, ReplicationComponents, ReplicationInit } from './types.ts'
import type { Logger } from '../logger.ts'
import type { KvStore } from '../storage/kv.ts'
import { ChainstoreAccessController, type RejectReason, type Rejection } from './access.ts'
import { PeerMisbehavedError, QuorumNotReachedError } from './errors.ts'
import { ForkChoice, checkAnnouncementBatch, type Announcement, type AnnouncementBatch } from './fold.ts'
import { IDENTITY_KEY_NAME, NETWORK_DIR, identityKeyFromSeed } from './keys.ts'
import { ACK_PROTOCOL, BLOCKS_PROTOCOL, LOG_PROTOCOL, MAX_WANT, fetchBlocks, fetchLog, requestAck, serveAck, serveBlocks, serveLog } from './protocol.ts'
import { Reputation, type PeerScore } from './reputation.ts'
import { checkValidatorState, type ValidatorState } from './validators.ts'
import { verifySecp256k1 } from './verify.ts'
import { HEAD_PROTOCOL, MAX_LOG_HEADS, requestHead, serveHead, type PeerHead } from './head-protocol.ts'
import { AttestationLog } from './attestation-log.ts'
import type { AttestationStore } from '../attestations/store.ts'
import { LwwMap } from './lww.ts'
import { openDatabase } from './open-db.ts'
import { withFramedHeads } from './framed-heads.ts'

/** How many confirmations a write waits for. */
import type { Consistency } from '../chain/types.ts'
export type { Consistency }

/** Counters the status API and (later) the metrics registry read. */
export interface ReplicationStats {
  /** When start() began (ms since epoch): index-sync rates are measured from it. */
  startedAt: number
  announced: number
  announceFailures: number
  announcementEntries: number
  announcementsApplied: number
  logEntriesPrefetched: number
  rejected: number
  rejectedByReason: Partial<Record<RejectReason, number>>
  blocksFetched: number
  bytesFetched: number
  fetchFailures: number
  misbehaving: number
  bitswapFallbacks: number
  quorumWrites: number
  quorumFailures: number
  acksServed: number
  queued: number
  /** Head exchanges re-run with a peer whose log heads this node lacked (anti-entropy). */
  resyncs: number
}

/** Per-peer view for `chainstore peers` and the API. */
export interface PeerInfo {
  peerId: string
  addresses: string[]
  reputation: number
  observers: number
  banned: boolean
  /** The peer's head from its last HEAD_PROTOCOL reply (null before one). */
  head: { height: number, finalized: number } | null
  /** Heights it trails the best chain known here (null before a reply). */
  lag: number | null
}

interface QueueEntry { height: number, needed: number, confirmed: string[], since: number }

const QUEUE_PREFIX = 'q/'
const ANNOUNCED_KEY = 'announced'
/** How long `stop` lets OrbitDB finish before aborting its network reads. */
const STOP_GRACE_MS = 2_000
/** How long announcements wait for more before an append. */
const ANNOUNCE_LINGER_MS = 50
/** Least time between two head exchanges this node re-runs for one database and peer. */
const RESYNC_MIN_MS = 15_000
/**
 * How long a peer's head must stay missing here before anti-entropy acts:
 * pubsub usually brings a fresh head first, and a joiner's first exchange of
 * a long log takes seconds (an extra exchange then only queues behind it).
 */
const LACK_GRACE_MS = 10_000
/** Blocks whose fetch requests run at once during catch-up. */
const FETCH_CONCURRENCY = 4

/** The replication service, js-libp2p style: `replication(init)(components)`; start and stop it with the node. */
export function replication (init: ReplicationInit): (components: ReplicationComponents) => Replicator {
  return components => new Replicator(init, components)
}

/**
 * Replication of one node: the chain index (an OrbitDB log of block
 * announcements, folded by {@link ForkChoice}), validator state and peer
 * reputation (OrbitDB key-value stores), block propagation by CID over
 * BLOCKS_PROTOCOL with bitswap as fallback, and replica confirmations over
 * ACK_PROTOCOL with a persistent queue that retries until every block has
 * its copies.
 */
export class Replicator {
  /** The attestations log, when the node keeps attestations. */
  attestationLog: AttestationLog | null = null
  /** Connected peers' heads, refreshed every tick (HEAD_PROTOCOL). */
  readonly peerHeads = new Map<string, PeerHead & { at: number }>()
  readonly stats: ReplicationStats = {
    startedAt: 0, announced: 0, announceFailures: 0, announcementEntries: 0, announcementsApplied: 0, logEntriesPrefetched: 0, rejected: 0, rejectedByReason: {}, blocksFetched: 0, bytesFetched: 0,
    fetchFailures: 0, misbehaving: 0, bitswapFallbacks: 0, quorumWrites: 0, quorumFailures: 0, acksServed: 0, queued: 0, resyncs: 0
  }

  readonly fold = new ForkChoice()
  readonly #store: ReplicatedChain
  readonly #blocks: BlockSink
  readonly #components: ReplicationComponents
  readonly #init: ReplicationInit
  readonly #net: ReplicationInit['network']
  readonly #limits: CodecLimits
  readonly #log: Logger
  readonly #kv: KvStore<any>
  #orbitdb: any
  #chain: any
  #validators: any
  /** Validator state folded from the validators log, last writer wins (src/replication/lww.ts). */
  readonly #validatorState = new LwwMap<ValidatorState>()
  #reputationDb: any
  /** Set once the databases are open (start). */
  reputation!: Reputation
  /** OrbitDB identity id of this node (hex public key). */
  identityId = ''
  readonly #networkStorages: any[] = []
  /** Entry blocks prefetched for a join (kept by GC until OrbitDB has them in its log). */
  readonly #prefetched: CID[] = []
  #queueLock: Promise<unknown> = Promise.resolve()
  /** Blocks a sync round is fetching, and blocks a replica confirmation is fetching: neither path fetches what the other does. */
  readonly #syncFetching = new Set<string>()
  readonly #ackFetching = new Set<string>()
  readonly #seenEntries = new Set<string>()
  /** Announced blocks not stored here yet (side branches are fetched from it without scanning the fold). */
  readonly #unfetched = new Set<string>()
  /** Refused entries whose sender is not known yet (see #onJoin). */
  readonly #unattributed = new Map<string, Rejection>()
  /** Entry hash → peer that gossiped it, to charge rejected entries to their sender. */
  readonly #entrySender = new Map<string, string>()
  /** Entries this node refused (a peer advertising them as heads is not resynced for them). */
  readonly #refused = new Set<string>()
  /** Anti-entropy by database and peer: when an exchange was last re-run, and the peer's heads this log lacks with when each was first seen lacking. */
  readonly #entropy = new Map<string, { resyncAt: number, lacking: Map<string, number> }>()
  #pending: Announcement[] = []
  #flushing: Promise<void> | null = null
  #announcedHeight = -1
  #syncing: Promise<void> | null = null
  #syncAgain = false
  #timer: NodeJS.Timeout | null = null
  #stopped = false
  readonly #abort = new AbortController()

  constructor (init: ReplicationInit, components: ReplicationComponents) {
    this.#init = init
    this.#components = components
    this.#store = components.chain
    this.#blocks = components.blocks
    this.#net = init.network
    this.#limits = init.limits
    this.#log = components.logger.child({ room: 'replication' })
    this.#kv = components.kv<any>('replication')
  }

  get libp2p (): Libp2p { return this.#components.libp2p }
  /** The OrbitDB instance (for tools and fault tests). */
  get orbitdb (): any { return this.#orbitdb }
  get peerId (): string { return this.libp2p.peerId.toString() }

  async start (): Promise<void> {
    this.stats.startedAt = Date.now()
    const directory = join(this.#init.dataDir, NETWORK_DIR, 'orbitdb')
    const keystore = await KeyStore({ path: join(directory, 'keystore') })
    if (this.#net.seed != null && !(await keystore.hasKey(IDENTITY_KEY_NAME) as boolean)) {
      await keystore.addKey(IDENTITY_KEY_NAME, { privateKey: identityKeyFromSeed(this.#net.seed) })
    }
    // entry signatures are checked with native crypto (src/replication/verify.ts):
    // the log verifies entries through the node's own identity object, so the
    // identity gets the fast `verify` too, not only the identities registry
    const fastVerify = async (signature: string, publicKey: string, data: string | Uint8Array): Promise<boolean> => verifySecp256k1(signature, publicKey, data)
    const base = await Identities({ keystore, storage: await this.#networkStorage() })
    const identities = { ...base, verify: fastVerify }
    const identity = { ...(await base.createIdentity({ id: IDENTITY_KEY_NAME })), verify: fastVerify }
    // OrbitDB's head exchange is unframed: it gets the node through
    // withFramedHeads, which frames those streams (src/replication/framed-heads.ts)
    this.#orbitdb = await createOrbitDB({ ipfs: withFramedHeads(this.#components.helia), id: IDENTITY_KEY_NAME, identities, identity, directory })
    this.identityId = this.#orbitdb.identity.id
    // a fresh node takes the chain log's entry blocks in one stream before
    // OrbitDB opens the log, so its join walks local blocks (see #prefetchLog)
    if (this.#store.head() == null && this.#net.peers.length > 0) {
      await this.#dialConfigured()
      await this.#prefetchLog().catch(err => this.#log.debug({ err: (err as Error).message }, 'log prefetch failed'))
    }
    const writers = this.#net.writers.length > 0 ? this.#net.writers : [this.identityId]
    const onReject = (r: Rejection): void => this.#onReject(r)
    const logger = this.#log
    const name = this.#net.name
    this.#chain = await openDatabase(this.#orbitdb, `${name}.chain`, {
      type: 'events',
      entryStorage: await this.#networkStorage(),
      referencesCount: 16,
      AccessController: ChainstoreAccessController({ write: writers, rule: 'writers', database: 'chain', checkPayload: p => checkAnnouncementBatch((p as any)?.value), onReject, logger })
    }, 'chain', logger)
    this.#validators = await openDatabase(this.#orbitdb, `${name}.validators`, {
      // plain KeyValue: state is read from the LWW fold, not an index
      Database: KeyValue(),
      entryStorage: await this.#networkStorage(),
      AccessController: ChainstoreAccessController({ write: writers, rule: 'writers', database: 'validators', checkPayload: checkValidatorPayload, onReject, logger })
    }, 'validators', logger)
    // the fold follows every entry OrbitDB adds (appends, and joins with the
    // ancestors they bring), then takes in the log as it is on disk
    this.#validators.events.on('update', (entry: any) => {
      this.#validatorState.applyWithAncestors(this.#validators.log, entry).catch(err => this.#log.warn({ err: (err as Error).message }, 'validator fold'))
    })
    await this.#validatorState.applyAll(this.#validators.log)
    this.#reputationDb = await openDatabase(this.#orbitdb, `${name}.reputation`, {
      Database: KeyValueIndexed(),
      entryStorage: await this.#networkStorage(),
      AccessController: ChainstoreAccessController({ write: ['*'], rule: 'own-keys', database: 'reputation', checkPayload: checkReputationPayload, onReject, logger })
    }, 'reputation', logger)
    this.reputation = new Reputation(this.identityId, this.#reputationDb, this.#net.minReputation)
    if (this.#components.attestations() != null) {
      this.attestationLog = await AttestationLog.open({ orbitdb: this.#orbitdb, name, writers, entryStorage: await this.#networkStorage(), store: this.#components.attestations()!, selfId: this.identityId, onReject, logger })
    }

    // attribute gossiped heads to the peer that sent them (for rejected entries)
    const pubsub = (this.libp2p.services as any).pubsub
    pubsub?.addEventListener?.('message', (evt: any) => {
      const m = evt.detail
      if (m?.topic == null || m.data == null) return
      try {
        this.#entrySender.set(cidOf(m.data).toString(base58btc), String(m.from ?? ''))
        if (this.#entrySender.size > 10_000) this.#entrySender.delete(this.#entrySender.keys().next().value!)
      } catch {}
    })
    this.#chain.events.on('update', (entry: any) => { this.#onChainEntry(entry).catch(err => this.#log.error({ err }, 'chain entry')) })
    this.#chain.events.on('join', (peerId: any, heads: any[]) => { this.#onJoin(String(peerId), heads) })

    await this.libp2p.handle(BLOCKS_PROTOCOL, (stream: any) => serveBlocks(stream, this.#store, err => this.#log.debug({ err }, 'blocks request failed')), { maxInboundStreams: 64 })
    await this.libp2p.handle(ACK_PROTOCOL, (stream: any, connection: any) =>
      serveAck(stream, connection, async (peer, cids, signal) => await this.#ensure(peer, cids, signal), this.#net.quorumTimeoutMs,
        err => this.#log.debug({ err }, 'ack request failed')), { maxInboundStreams: 64 })

    await this.libp2p.handle(LOG_PROTOCOL, (stream: any) => serveLog(stream, () => this.#logBlocks(), err => this.#log.debug({ err }, 'log request failed')), { maxInboundStreams: 8 })
    await this.libp2p.handle(HEAD_PROTOCOL, (stream: any) => serveHead(stream, async () => {
      const head = this.#store.head()
      const logs: Record<string, string[]> = {}
      for (const [name, db] of Object.entries(this.#databases())) logs[name] = (await db.log.heads()).slice(0, MAX_LOG_HEADS).map((e: any) => String(e.hash))
      return { height: head?.height ?? -1, cid: head?.cid.toString() ?? null, finalized: Math.min(this.#store.finalizedHeight(), head?.height ?? -1), logs }
    }, err => this.#log.debug({ err }, 'head request failed')), { maxInboundStreams: 16 })

    // the log as it is on disk: fold every entry once
    for await (const e of this.#chain.log.iterator()) this.#applyEntry(e)
    this.#announcedHeight = (await this.#kv.get(ANNOUNCED_KEY)) ?? -1
    this.stats.queued = await this.#countQueue()
    await this.#announceUnannounced()
    await this.#dialConfigured()
    this.#timer = setInterval(() => { this.#tick().catch(err => this.#log.warn({ err }, 'replication tick')) }, this.#net.intervalMs)
    this.#timer.unref()
    this.#scheduleSync()
    this.#log.info({ peerId: this.peerId, identity: this.identityId, addresses: this.libp2p.getMultiaddrs().map(String), chain: this.#chain.address }, 'replication started')
  }

  /**
   * What OrbitDB builds by default for entries and identities (an LRU over
   * Helia's blockstore), kept so `stop` can abort reads in flight.
   */
  async #networkStorage (): Promise<any> {
    const storage = await ComposedStorage(
      await LRUStorage({ size: 1000 }),
      // OrbitDB's default timeout (30 s) also bounds local puts, which take
      // seconds on a starved machine; stop() aborts reads via close(). No Helia
      // pins: chainstore never runs Helia's GC, and `pins.add` per entry (a
      // DAG walk and datastore writes) was a third of a joiner's log sync
      await IPFSBlockStorage({ ipfs: this.#components.helia, pin: false })
    )
    this.#networkStorages.push(storage)
    return storage
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
    await this.#flushing?.catch(() => {})
    await this.#syncing?.catch(() => {})
    await this.reputation?.flush().catch(() => {})
    await this.libp2p.unhandle([BLOCKS_PROTOCOL, ACK_PROTOCOL, LOG_PROTOCOL, HEAD_PROTOCOL]).catch(() => {})
    await this.attestationLog?.close().catch(() => {})
    // OrbitDB's close first waits for its queue, where an entry may wait on a
    // network read (an identity or entry not held here) for up to 30 s. When
    // the stop is slow, closing the network storages aborts those reads. Not
    // before: an aborted read rejects somewhere inside OrbitDB where nothing
    // catches it, and the unhandled rejection would end the process.
    const stopping = this.#orbitdb?.stop()
    const slow = await Promise.race([stopping?.then(() => false), new Promise(resolve => setTimeout(resolve, STOP_GRACE_MS, true))])
    if (slow === true) {
      this.#log.debug('orbitdb stop waits on network reads; aborting them')
      for (const storage of this.#networkStorages) await storage.close().catch(() => {})
    }
    await stopping
  }

  // ---------------------------------------------------------------- writes

  /**
   * Called after blocks are durably stored locally: announces them, records
   * them in the replication queue, and for `quorum`/`all` waits for replica
   * confirmations (QuorumNotReachedError after `quorumTimeoutMs`; the blocks
   * stay stored, announced and queued).
   */
  async afterLocalWrite (blocks: Array<{ cid: CID, height: number, parent: CID | null, txCount: number }>, options: { consistency?: Consistency, weight?: number, finalized?: boolean } = {}): Promise<void> {
    if (blocks.length === 0) return
    const consistency = options.consistency ?? 'one'
    const replicas = this.#replicaSet()
    const needed = consistency === 'all' ? replicas.length : consistency === 'quorum' ? Math.floor((replicas.length + 1) / 2) : 0
    const copies = Math.max(needed, this.#net.replicationFactor - 1)
    if (copies > 0) {
      await this.#kv.batch(blocks.map(b => ({ type: 'put', key: QUEUE_PREFIX + b.cid.toString(), value: { height: b.height, needed: copies, confirmed: [], since: Date.now() } satisfies QueueEntry })))
      this.stats.queued += blocks.length
    }
    this.announce(blocks.map(b => ({
      cid: b.cid.toString(), height: b.height, parent: b.parent?.toString() ?? null, weight: options.weight ?? 1, finalized: options.finalized ?? false, txCount: b.txCount
    })))
    if (needed === 0) return
    this.stats.quorumWrites++
    const cids = blocks.map(b => b.cid)
    const confirmed = await this.#collectAcks(replicas, cids, needed, this.#net.quorumTimeoutMs)
    await this.#confirm(cids.map(c => c.toString()), confirmed)
    if (confirmed.length < needed) {
      this.stats.quorumFailures++
      throw new QuorumNotReachedError(`${consistency} write of ${blocks.length} block(s) up to height ${blocks[blocks.length - 1].height}: ${confirmed.length} of ${needed} replica confirmations in ${this.#net.quorumTimeoutMs} ms (confirmed: ${confirmed.join(', ') || 'none'}); blocks are stored and queued for replication`, confirmed, needed)
    }
  }

  /** Marks a stored block finalized in the chain index. */
  finalize (block: { cid: CID, height: number, parent: CID | null, txCount: number }, weight = 1): void {
    this.announce([{ cid: block.cid.toString(), height: block.height, parent: block.parent?.toString() ?? null, weight, finalized: true, txCount: block.txCount }])
  }

  /** Queues announcements; one chain-log entry carries everything queued while the previous append ran. */
  announce (list: Announcement[]): void {
    this.#pending.push(...list)
    if (this.#pending.length === 0) return
    this.#flushing ??= this.#flush().finally(() => { this.#flushing = null })
  }

  /** Resolves once every queued announcement is in the chain log. */
  async flushAnnouncements (): Promise<void> {
    while (this.#flushing != null) await this.#flushing
  }

  /** Announcements still waiting for an append (after a failed one, until the next tick). */
  get pendingAnnouncements (): number {
    return this.#pending.length
  }

  async #flush (): Promise<void> {
    while (this.#pending.length > 0 && !this.#stopped) {
      // a short linger gathers the blocks of the next few writes into one entry:
      // a live peer applies ~60-110 entries/s, so one entry per block would
      // fall behind a writer at 100 blocks/s
      if (this.#pending.length < this.#net.announceBatch) await new Promise(resolve => setTimeout(resolve, ANNOUNCE_LINGER_MS))
      const blocks = this.#pending.splice(0, this.#net.announceBatch)
      const value: AnnouncementBatch = { v: 1, blocks }
      try {
        await this.#chain.add(value)
      } catch (err) {
        // back to the front of the queue; the next replication tick retries
        // (and a restart announces whatever is past the announced marker)
        this.#pending.unshift(...blocks)
        this.stats.announceFailures++
        this.#log.warn({ err: (err as Error).message, blocks: blocks.length }, 'announcement failed; retrying at the next tick')
        return
      }
      this.stats.announced += blocks.length
      this.stats.announcementEntries++
      const top = Math.max(...blocks.map(b => b.height))
      if (top > this.#announcedHeight) {
        this.#announcedHeight = top
        await this.#kv.put(ANNOUNCED_KEY, top)
      }
    }
  }

  /** A crash between a block's acknowledgement and its announcement loses nothing: announce what the head has past the marker. */
  async #announceUnannounced (): Promise<void> {
    const head = this.#store.head()
    if (head == null || head.height <= this.#announcedHeight) return
    const list: Announcement[] = []
    for (let h = this.#announcedHeight + 1; h <= head.height; h++) {
      const cid = this.#store.canonicalAt(h)
      if (cid == null || this.fold.get(cid.toString()) != null) continue
      // the header says all an announcement needs: no page is read or hashed at start-up
      const header = decodeHeader(this.#blocks.localBytes(cid)!)
      list.push({ cid: cid.toString(), height: h, parent: header.parent?.toString() ?? null, weight: 1, finalized: false, txCount: header.txCount })
    }
    if (list.length > 0) {
      this.#log.info({ blocks: list.length, from: list[0].height }, 'announcing blocks stored before the last stop')
      this.announce(list)
    }
  }

  // ---------------------------------------------------------------- chain index

  #applyEntry (entry: any): boolean {
    if (entry?.hash == null || this.#seenEntries.has(entry.hash)) return false
    this.#seenEntries.add(entry.hash)
    const value = entry.payload?.value
    if (checkAnnouncementBatch(value) != null) return false
    let changed = false
    for (const a of (value as AnnouncementBatch).blocks) {
      if (this.fold.add(a)) changed = true
      if (!this.#store.hasBlock(CID.parse(a.cid))) this.#unfetched.add(a.cid)
      this.stats.announcementsApplied++
    }
    return changed
  }

  /** OrbitDB reports only the newest entry of a join: walk back to what was folded already. */
  async #onChainEntry (entry: any): Promise<void> {
    if (this.#stopped) return
    const stack = [entry]
    let changed = false
    while (stack.length > 0) {
      const e = stack.pop()
      if (e == null || this.#seenEntries.has(e.hash)) continue
      if (this.#applyEntry(e)) changed = true
      for (const h of [...(e.next ?? []), ...(e.refs ?? [])]) {
        if (this.#seenEntries.has(h)) continue
        stack.push(await this.#chain.log.get(h))
      }
    }
    if (changed) this.#scheduleSync()
  }

  /**
   * Blocks the replicated databases need that no pin record holds: every log
   * entry, the identities that signed them, the database and access-controller
   * manifests, and prefetched entries not joined yet. GC keeps these.
   */
  async keepRoots (): Promise<CID[]> {
    const out: CID[] = [...this.#prefetched]
    const parse = (s: string): CID | undefined => { try { return CID.parse(s, base58btc) } catch { return undefined } }
    const identity = parse(this.#orbitdb.identity.hash)
    if (identity != null) out.push(identity)
    for (const db of [this.#chain, this.#validators, this.#reputationDb, ...(this.attestationLog != null ? [this.attestationLog.db] : [])]) {
      for (const address of [String(db.address), String(db.access?.address ?? '')]) {
        const c = parse(address.split('/').pop() ?? '')
        if (c != null) out.push(c)
      }
      for await (const e of db.log.iterator()) {
        const h = parse(e.hash)
        if (h != null) out.push(h)
        const id = typeof e.identity === 'string' ? parse(e.identity) : undefined
        if (id != null) out.push(id)
      }
    }
    return out
  }

  /** The chain log's entry blocks as stored here (every entry this node folded). */
  * #logBlocks (): Generator<{ cid: CID, bytes: Uint8Array }> {
    for (const hash of [...this.#seenEntries]) {
      const cid = CID.parse(hash, base58btc)
      const bytes = this.#blocks.localBytes(cid)
      if (bytes != null) yield { cid, bytes }
    }
  }

  /**
   * A fresh node asks a peer for every chain-log entry block in one stream
   * and writes them in LevelDB batches: OrbitDB's join walks the log level by
   * level with a bitswap round trip per level (~40 entries/s on loopback);
   * with the blocks already local the walk only verifies. The first peer that
   * answers serves. The blocks are cached, not pinned; OrbitDB verifies each
   * entry's signature and access when it joins it.
   */
  async #prefetchLog (): Promise<void> {
    for (const peer of this.#peersByReputation()) {
      const signal = AbortSignal.any([AbortSignal.timeout(60_000), this.#abort.signal])
      try {
        const stream = await this.libp2p.dialProtocol(peer, LOG_PROTOCOL, { signal })
        let pending: Array<{ cid: CID, bytes: Uint8Array }> = []
        const n = await fetchLog(stream, peer.toString(), async (cid, bytes) => {
          this.#prefetched.push(cid)
          pending.push({ cid, bytes })
          if (pending.length >= 1000) { await this.#blocks.putVerifiedBlocks(pending); pending = [] }
        }, signal)
        if (pending.length > 0) await this.#blocks.putVerifiedBlocks(pending)
        this.stats.logEntriesPrefetched += n
        this.#log.debug({ peer: peer.toString(), entries: n }, 'chain log prefetched')
        return
      } catch (err) {
        if (err instanceof PeerMisbehavedError) this.#penalize(peer.toString(), err.message)
        if (this.#stopped) return
      }
    }
  }

  /**
   * OrbitDB reports a head exchange ('join') after it has processed the heads,
   * so a refusal of one of them happened before we learn who sent it: charge
   * the peer now.
   */
  #onJoin (peerId: string, heads: any[]): void {
    for (const h of heads ?? []) {
      if (h?.hash == null) continue
      const refused = this.#unattributed.get(h.hash)
      if (refused != null) {
        this.#unattributed.delete(h.hash)
        if (peerId !== this.peerId) this.#penalize(peerId, `sent entry refused as ${refused.reason}`)
      }
    }
  }

  #onReject (r: Rejection): void {
    this.#refused.add(r.hash)
    if (this.#refused.size > 10_000) this.#refused.delete(this.#refused.keys().next().value!)
    this.stats.rejected++
    this.stats.rejectedByReason[r.reason] = (this.stats.rejectedByReason[r.reason] ?? 0) + 1
    // gossiped heads name their sender before OrbitDB sees them
    const sender = this.#entrySender.get(r.hash)
    if (sender != null && sender !== '') {
      if (sender !== this.peerId) this.#penalize(sender, `sent entry refused as ${r.reason}`)
      return
    }
    this.#unattributed.set(r.hash, r)
    if (this.#unattributed.size > 1000) this.#unattributed.delete(this.#unattributed.keys().next().value!)
  }

  #scheduleSync (): void {
    if (this.#stopped) return
    if (this.#syncing != null) { this.#syncAgain = true; return }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false
        try { await this.#syncOnce() } catch (err) { if (!this.#stopped) this.#log.warn({ err }, 'sync round failed') }
      } while (this.#syncAgain && !this.#stopped)
    })().finally(() => { this.#syncing = null })
  }

  /** Resolves when the current sync round (if any) is done. */
  async idle (): Promise<void> {
    await this.flushAnnouncements()
    while (this.#syncing != null) await this.#syncing
  }

  /**
   * Brings the local store to the fold's canonical tip: fetch the blocks of the
   * canonical path that are missing (several requests in flight, imported in
   * order), move the canonical head to the highest block of the path present,
   * then fetch announced side-branch blocks.
   */
  async #syncOnce (): Promise<void> {
    const tip = this.fold.tip()
    if (tip == null) return
    const path = this.fold.pathFromTip(a => this.#store.canonicalAt(a.height)?.toString() === a.cid).reverse()
    const missing: Announcement[] = []
    for (const a of path) {
      if (this.#store.hasBlock(CID.parse(a.cid))) continue
      // a replica confirmation is fetching it: the rest waits for the next round (scheduled when that import lands)
      if (this.#ackFetching.has(a.cid)) break
      missing.push(a)
    }
    await this.#fetchInOrder(missing)
    let present: Announcement | null = null
    for (const a of path) {
      if (!this.#store.hasBlock(CID.parse(a.cid))) break
      present = a
    }
    // a tip already on the local canonical chain needs nothing: the local head
    // may be ahead of the fold with blocks whose announcements are in flight
    if (present != null && this.#store.canonicalAt(present.height)?.toString() !== present.cid) {
      await this.#store.setCanonical(CID.parse(present.cid))
    }
    // finality the index announced, once that block is canonical here
    const final = this.fold.finalized()
    if (final != null && final.height > this.#store.finalizedHeight() && this.#store.canonicalAt(final.height)?.toString() === final.cid) {
      await this.#store.setFinalized(final.height)
    }
    // side branches: fetched so any peer can serve them and a later reorg is local
    const side: Announcement[] = []
    for (const cid of this.#unfetched) {
      const a = this.fold.get(cid)
      if (a == null || this.#store.hasBlock(CID.parse(cid))) { this.#unfetched.delete(cid); continue }
      if (side.length < MAX_WANT && (a.parent == null || this.#store.hasBlock(CID.parse(a.parent)))) side.push(a)
    }
    if (side.length > 0) await this.#fetchInOrder(side)
  }

  async #fetchInOrder (list: Announcement[]): Promise<void> {
    for (const a of list) this.#syncFetching.add(a.cid)
    try {
      await this.#fetchChunksInOrder(list)
    } finally {
      for (const a of list) this.#syncFetching.delete(a.cid)
    }
  }

  async #fetchChunksInOrder (list: Announcement[]): Promise<void> {
    const chunks: Announcement[][] = []
    for (let i = 0; i < list.length; i += this.#net.fetchBatch) chunks.push(list.slice(i, i + this.#net.fetchBatch))
    const inFlight: Array<Promise<EncodedBlock[]>> = []
    let next = 0
    const launch = (): void => {
      if (next < chunks.length) inFlight.push(this.#fetchChunk(chunks[next++]))
    }
    for (let i = 0; i < FETCH_CONCURRENCY; i++) launch()
    while (inFlight.length > 0 && !this.#stopped) {
      const blocks = await inFlight.shift()!
      launch()
      if (blocks.length === 0) continue
      try {
        await this.#store.importBlocks(blocks)
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'import of fetched blocks failed')
        return
      }
    }
  }

  /** One chunk from the best peer that has it; wrong bytes cost the peer reputation and the next peer is asked. */
  async #fetchChunk (chunk: Announcement[]): Promise<EncodedBlock[]> {
    const want = chunk.map(a => CID.parse(a.cid))
    const got = new Map<string, EncodedBlock>()
    for (const peer of this.#peersByReputation()) {
      const ask = want.filter(c => !got.has(c.toString()))
      if (ask.length === 0) break
      try {
        const res = await this.#fetchFrom(peer, ask)
        for (const b of res) got.set(b.cid.toString(), b)
      } catch (err) {
        this.stats.fetchFailures++
        if (err instanceof PeerMisbehavedError) this.#penalize(peer.toString(), err.message)
        else this.#log.debug({ peer: peer.toString(), err: (err as Error).message }, 'fetch failed')
      }
    }
    for (const c of want) {
      if (got.has(c.toString())) continue
      const b = await this.#fetchViaBitswap(c).catch(() => undefined)
      if (b != null) got.set(c.toString(), b)
    }
    const out: EncodedBlock[] = []
    for (const a of chunk) {
      const b = got.get(a.cid)
      if (b == null) continue
      if (b.height !== a.height || (b.parent?.toString() ?? null) !== a.parent) {
        this.#log.warn({ cid: a.cid, announced: a.height, actual: b.height }, 'block contradicts its announcement; dropped from the fold')
        this.fold.reject(a.cid)
        continue
      }
      out.push(b)
    }
    return out
  }

  async #fetchFrom (peer: PeerId, want: CID[], signal?: AbortSignal): Promise<EncodedBlock[]> {
    const timeout = AbortSignal.timeout(this.#net.fetchTimeoutMs)
    const s = signal != null ? AbortSignal.any([signal, timeout, this.#abort.signal]) : AbortSignal.any([timeout, this.#abort.signal])
    const stream = await this.libp2p.dialProtocol(peer, BLOCKS_PROTOCOL, { signal: s })
    const { blocks } = await fetchBlocks(stream, peer.toString(), want, this.#limits, s)
    this.stats.blocksFetched += blocks.length
    for (const b of blocks) this.stats.bytesFetched += b.size
    if (blocks.length > 0) this.reputation.observe(peer.toString(), { good: blocks.length })
    return blocks
  }

  /** Bitswap, which any IPFS peer speaks: the header, then its pages, each verified by Helia and again here. */
  async #fetchViaBitswap (cid: CID): Promise<EncodedBlock | undefined> {
    if (this.libp2p.getConnections().length === 0) return undefined
    const signal = AbortSignal.any([AbortSignal.timeout(this.#net.fetchTimeoutMs), this.#abort.signal])
    const get = async (c: CID): Promise<Uint8Array> => await this.getBytes(c, signal)
    const header = await get(cid)
    const h = decodeHeader(header)
    const pages = new Map<string, Uint8Array>()
    await Promise.all([...h.txPages, ...h.receiptPages].map(async p => { pages.set(p.toString(), await get(p)) }))
    this.stats.bitswapFallbacks++
    return blockFromBytes(cid, header, c => pages.get(c.toString()), this.#limits)
  }

  /** Bytes of any block from the network (bitswap through Helia), verified against the CID. */
  async getBytes (cid: CID, signal: AbortSignal): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const chunk of this.#components.helia.blockstore.get(cid, { signal } as any)) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    if (!bytesMatchCid(cid, bytes)) throw new PeerMisbehavedError('bitswap', `bytes for ${cid.toString()} do not hash to it`)
    return bytes
  }

  /**
   * ACK_PROTOCOL server side: fetch what is missing from the asking peer (and
   * missing ancestors, so parents are stored first), import, and answer with
   * what is now held verified and pinned.
   */
  async #ensure (peer: PeerId, cids: CID[], signal: AbortSignal): Promise<CID[]> {
    this.stats.acksServed++
    let want = cids.filter(c => !this.#store.hasBlock(c))
    // blocks a sync round is already fetching arrive shortly: wait rather than fetch twice
    const deadline = Date.now() + this.#net.fetchTimeoutMs
    while (want.some(c => this.#syncFetching.has(c.toString())) && Date.now() < deadline && !signal.aborted) {
      await new Promise(resolve => setTimeout(resolve, 10))
      want = want.filter(c => !this.#store.hasBlock(c))
    }
    if (want.length === 0) return cids.filter(c => this.#store.hasBlock(c))
    const marked = want.map(c => c.toString())
    for (const c of marked) this.#ackFetching.add(c)
    try {
      await this.#fetchForAck(peer, want, signal)
    } finally {
      for (const c of marked) this.#ackFetching.delete(c)
      this.#scheduleSync()
    }
    return cids.filter(c => this.#store.hasBlock(c))
  }

  /**
   * One request for the asked blocks, then import those that connect to what
   * is stored. A replica that lacks their ancestors is behind: it confirms
   * nothing now and catches up through its sync rounds (fetching ancestors
   * one parent at a time here would be both slow and in the sync's way); the
   * asker's queue asks again later.
   */
  async #fetchForAck (peer: PeerId, wanted: CID[], signal: AbortSignal): Promise<void> {
    const asked = new Set(wanted.map(c => c.toString()))
    const behind = (c: CID): boolean => {
      const parent = this.fold.get(c.toString())?.parent
      return parent != null && !asked.has(parent) && !this.#store.hasBlock(CID.parse(parent))
    }
    const want = wanted.filter(c => !behind(c))
    if (want.length === 0) return
    const blocks = (await this.#fetchFrom(peer, want.slice(0, MAX_WANT), signal)).sort((a, b) => a.height - b.height)
    const accepted = new Set<string>()
    const importable: EncodedBlock[] = []
    for (const b of blocks) {
      if (b.parent == null || this.#store.hasBlock(b.parent) || accepted.has(b.parent.toString()) || this.#init.allowGaps) {
        accepted.add(b.cid.toString())
        importable.push(b)
      }
    }
    if (importable.length > 0) await this.#store.importBlocks(importable)
  }

  // ---------------------------------------------------------------- replicas

  #replicaSet (): string[] {
    if (this.#net.replicas.length > 0) return this.#net.replicas.filter(p => p !== this.peerId)
    return [...new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))]
  }

  /** Asks every replica at once; resolves with who confirmed, as soon as `needed` did or at the timeout. */
  async #collectAcks (replicas: string[], cids: CID[], needed: number, timeoutMs: number): Promise<string[]> {
    const confirmed: string[] = []
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#abort.signal])
    await new Promise<void>(resolve => {
      let open = replicas.length
      if (open === 0) { resolve(); return }
      signal.addEventListener('abort', () => resolve(), { once: true })
      for (const r of replicas) {
        this.#askReplica(r, cids, signal).then(have => {
          if (have.length === cids.length) confirmed.push(r)
          if (confirmed.length >= needed) resolve()
        }, err => {
          this.#log.debug({ replica: r, err: (err as Error).message }, 'replica did not confirm')
        }).finally(() => { if (--open === 0) resolve() })
      }
    })
    return [...confirmed]
  }

  async #askReplica (peer: string, cids: CID[], signal: AbortSignal): Promise<CID[]> {
    const id = peerIdFromString(peer)
    const stream = await this.libp2p.dialProtocol(id, ACK_PROTOCOL, { signal })
    return await requestAck(stream, peer, cids, signal)
  }

  /**
   * Records that `replicas` hold `cids`: entries that reach their copies are
   * deleted. Read-modify-writes of the queue run one at a time (a quorum
   * write's confirmations and the retry loop touch the same entries).
   */
  async #confirm (cids: string[], replicas: string[]): Promise<void> {
    if (cids.length === 0 || replicas.length === 0) return
    const run = this.#queueLock.then(async () => {
      const keys = cids.map(c => QUEUE_PREFIX + c)
      const entries = await this.#kv.getMany(keys) as Array<QueueEntry | undefined>
      const ops: any[] = []
      let done = 0
      for (let i = 0; i < keys.length; i++) {
        const e = entries[i]
        if (e == null) continue
        const confirmed = [...new Set([...e.confirmed, ...replicas])]
        if (confirmed.length >= e.needed) { ops.push({ type: 'del', key: keys[i] }); done++ } else ops.push({ type: 'put', key: keys[i], value: { ...e, confirmed } })
      }
      if (ops.length > 0) await this.#kv.batch(ops)
      this.stats.queued -= done
    })
    this.#queueLock = run.catch(() => {})
    await run
  }

  async #countQueue (): Promise<number> {
    let n = 0
    let gt: string | undefined
    for (;;) {
      let page = 0
      for await (const [k] of this.#kv.iterate({ prefix: QUEUE_PREFIX, ...(gt != null ? { gt } : {}) })) { n++; page++; gt = k }
      if (page < 1000) return n
    }
  }

  /** The replication queue's entries (oldest heights first), for status and tests. */
  async queue (limit = 1000): Promise<Array<QueueEntry & { cid: string }>> {
    const out: Array<QueueEntry & { cid: string }> = []
    for await (const [k, v] of this.#kv.iterate({ prefix: QUEUE_PREFIX, limit })) out.push({ cid: k.slice(QUEUE_PREFIX.length), ...(v as QueueEntry) })
    return out
  }

  /** Retries queued blocks with replicas that have not confirmed them. */
  async #retryQueue (): Promise<void> {
    // a few pages per tick, so a queue that grows at the write rate drains
    for (let page = 0; page < 8 && !this.#stopped; page++) {
      const before = this.stats.queued
      const full = await this.#retryQueuePage()
      if (!full || this.stats.queued >= before) return
    }
  }

  /** One page of the queue; returns whether the page was full. */
  async #retryQueuePage (): Promise<boolean> {
    const entries = await this.queue(MAX_WANT)
    if (entries.length === 0) return false
    const replicas = this.#replicaSet()
    const connected = new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))
    for (const r of replicas) {
      if (!connected.has(r)) continue
      const todo = entries.filter(e => !e.confirmed.includes(r) && e.confirmed.length < e.needed)
      if (todo.length === 0) continue
      const cids = todo.map(e => CID.parse(e.cid))
      try {
        const have = await this.#askReplica(r, cids, AbortSignal.any([AbortSignal.timeout(this.#net.quorumTimeoutMs), this.#abort.signal]))
        await this.#confirm(have.map(c => c.toString()), [r])
      } catch (err) {
        this.#log.debug({ replica: r, err: (err as Error).message }, 'queued replication retry failed')
      }
    }
    return entries.length === MAX_WANT
  }

  // ---------------------------------------------------------------- peers

  #penalize (peer: string, why: string): void {
    this.stats.misbehaving++
    this.#log.warn({ peer, why }, 'peer misbehaved')
    this.reputation.observe(peer, { bad: 1 })
  }

  #peersByReputation (): PeerId[] {
    const seen = new Set<string>()
    const out: PeerId[] = []
    for (const c of this.libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      if (seen.has(id) || this.reputation?.isBanned(id) === true) continue
      seen.add(id)
      out.push(c.remotePeer)
    }
    // before the databases open (the log prefetch) there are no scores yet
    if (this.reputation == null) return out
    return out.sort((a, b) => this.reputation.score(b.toString()).score - this.reputation.score(a.toString()).score)
  }

  async #dialConfigured (): Promise<void> {
    const connected = new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))
    await Promise.all(this.#net.peers.map(async addr => {
      const ma = multiaddr(addr)
      const id = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (id != null && (connected.has(id) || this.reputation?.isBanned(id) === true)) return
      try {
        await this.libp2p.dial(ma, { signal: AbortSignal.timeout(3_000) })
      } catch (err) {
        this.#log.debug({ addr, err: (err as Error).message }, 'dial failed')
      }
    }))
  }

  /** Dials a peer (a multiaddr with /p2p/<id>). */
  async dial (addr: string): Promise<void> {
    await this.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
  }

  async #tick (): Promise<void> {
    if (this.#stopped) return
    this.announce([])
    await this.#dialConfigured()
    await this.#retryQueue()
    await this.reputation.flush()
    await this.#pollHeads()
    for (const peer of await this.reputation.toDisconnect()) {
      this.#log.warn({ peer }, 'disconnecting peer with low reputation')
      await this.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
    }
    this.#scheduleSync()
  }

  /** Asks every connected peer for its head (HEAD_PROTOCOL), at once, 2 s each; peers that left are forgotten. */
  async #pollHeads (): Promise<void> {
    const connected = new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))
    for (const peer of this.peerHeads.keys()) if (!connected.has(peer)) this.peerHeads.delete(peer)
    for (const key of this.#entropy.keys()) if (!connected.has(key.slice(key.indexOf(' ') + 1))) this.#entropy.delete(key)
    await Promise.all([...connected].map(async peer => {
      try {
        const stream = await this.libp2p.dialProtocol(peerIdFromString(peer), HEAD_PROTOCOL, { signal: AbortSignal.timeout(2_000) })
        const head = await requestHead(stream as any, peer, AbortSignal.timeout(2_000))
        this.peerHeads.set(peer, { ...head, at: Date.now() })
        if (head.logs != null) await this.#antiEntropy(peer, head.logs)
      } catch (err) {
        if (err instanceof PeerMisbehavedError) this.#log.debug({ peer, err: err.message }, 'bad head reply')
      }
    }))
  }

  /** The replicated OrbitDB databases by the names HEAD_PROTOCOL uses. */
  #databases (): Record<string, any> {
    const dbs: Record<string, any> = { chain: this.#chain, validators: this.#validators, reputation: this.#reputationDb }
    if (this.attestationLog != null) dbs.attestations = this.attestationLog.db
    return dbs
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
    const dbs = this.#databases()
    const now = Date.now()
    for (const [name, heads] of Object.entries(logs)) {
      const db = dbs[name]
      if (db == null) continue
      const key = `${name} ${peer}`
      const state = this.#entropy.get(key) ?? { resyncAt: 0, lacking: new Map<string, number>() }
      const lacking = new Map<string, number>()
      for (const h of heads) {
        if (this.#refused.has(h) || (await db.log.has(h) as boolean)) continue
        lacking.set(h, state.lacking.get(h) ?? now)
      }
      state.lacking = lacking
      this.#entropy.set(key, state)
      const overdue = [...lacking].find(([, since]) => now - since >= LACK_GRACE_MS)
      if (overdue == null || now - state.resyncAt < RESYNC_MIN_MS) continue
      state.resyncAt = now
      this.stats.resyncs++
      this.#log.debug({ peer, database: name, head: overdue[0] }, 'peer has a head this log lacks: exchanging heads again')
      db.peers.delete(peer)
      const pubsub = (this.libp2p.services as any).pubsub
      pubsub.dispatchEvent(new CustomEvent('subscription-change', { detail: { peerId: peerIdFromString(peer), subscriptions: [{ topic: db.address, subscribe: true }] } }))
    }
  }

  /**
   * How many heights a peer trails the best chain this node knows (the fold's
   * tip or its own head, whichever is higher), from its last head reply; null
   * before one arrived.
   */
  lagOf (peer: string): number | null {
    const head = this.peerHeads.get(peer)
    if (head == null) return null
    const best = Math.max(this.fold.tip()?.height ?? -1, this.#store.head()?.height ?? -1)
    return Math.max(0, best - head.height)
  }

  /** Connected peers with their aggregate reputation. */
  async peers (): Promise<PeerInfo[]> {
    const byPeer = new Map<string, string[]>()
    for (const c of this.libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      byPeer.set(id, [...(byPeer.get(id) ?? []), c.remoteAddr.toString()])
    }
    await this.reputation.refresh()
    return [...byPeer].map(([peerId, addresses]) => {
      const s: PeerScore = this.reputation.score(peerId)
      const head = this.peerHeads.get(peerId)
      return { peerId, addresses, reputation: s.score, observers: s.observers, banned: this.reputation.isBanned(peerId), head: head == null ? null : { height: head.height, finalized: head.finalized }, lag: this.lagOf(peerId) }
    })
  }

  // ---------------------------------------------------------------- validators

  /** Writes a validator's state (writers only; others' writes are refused on every replica). */
  async putValidator (id: string, state: ValidatorState): Promise<void> {
    checkValidatorState(id, state)
    await this.#validators.put(id, state)
  }

  async getValidator (id: string): Promise<ValidatorState | undefined> {
    return this.#validatorState.get(id)
  }

  /**
   * Validator state: the validators log folded last-writer-wins per key by
   * (Lamport time, writer id, entry hash), so peers holding the same entries
   * agree whatever order they arrived in. Not KeyValueIndexed's index: after
   * partitions healed, peers disagreed on a key written concurrently and a
   * restarted peer missed keys its log held (docs/FAULTS.md, finding 4).
   */
  async validators (): Promise<Array<{ id: string, state: ValidatorState }>> {
    return this.#validatorState.list().map(([id, state]) => ({ id, state }))
  }

  /** OrbitDB addresses of the three databases. */
  addressesOfDatabases (): { chain: string, validators: string, reputation: string } {
    return { chain: this.#chain.address, validators: this.#validators.address, reputation: this.#reputationDb.address }
  }
}

function checkValidatorPayload (p: any): string | undefined {
  if (p?.op === 'DEL') return typeof p.key === 'string' ? undefined : 'validator key'
  if (p?.op !== 'PUT') return 'validators: only PUT and DEL'
  try { checkValidatorState(p.key, p.value) } catch (err) { return (err as Error).message }
  return undefined
}

function checkReputationPayload (p: any): string | undefined {
  if (p?.op !== 'PUT') return 'reputation: only PUT'
  const v = p.value
  if (v == null || !Number.isSafeInteger(v.good) || !Number.isSafeInteger(v.bad) || v.good < 0 || v.bad < 0 || !Number.isSafeInteger(v.at)) return 'reputation observation shape'
  return undefined
}
