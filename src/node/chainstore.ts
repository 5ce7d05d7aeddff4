import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { unixfs, type UnixFS } from '@helia/unixfs'
import { LevelBlockstore } from 'blockstore-level'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight, type Helia } from 'helia'
import { CID } from 'multiformats/cid'
import { RAW, cidFromDigest, cidOf, parseCid } from '../codec/cid.ts'
import { decodeHeader, decodeReceipt, decodeTx, decodeTxPage } from '../codec/decode.ts'
import { encodeBlock, type EncodedBlock, type IpldBlock } from '../codec/encode.ts'
import { blockFromBytes, headerLinks } from '../codec/from-bytes.ts'
import { CorruptDataError, InvalidBlockError } from '../codec/errors.ts'
import { assertHeight } from '../codec/validate.ts'
import type { Block, BlockHeader, BlockInput, ReceiptRecord, StoredBlock, TransactionRecord } from '../codec/types.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import { readAddressHistory, readLogs } from '../indexes/reader.ts'
import { decodeBlockRecord, decodeTxRecord, type TxRecord } from '../indexes/records.ts'
import { indexBlock, unindexBlock } from '../indexes/writer.ts'
import type { HistoryOptions, HistoryPage, LogQuery, LogRecord } from '../indexes/types.ts'
import type { Logger } from '../logger.ts'
import { holdInBatch, listPins, readPin, releaseInBatch, type PinReader, type PinRecord, type PinState } from '../pinning/records.ts'
import { PinQueue, dequeueInBatch, queueInBatch, readQueue, type PinJob } from '../pinning/queue.ts'
import { FetchCache } from '../storage/fetch-cache.ts'
import { SerialQueue } from '../storage/serial.ts'
import { linksOf } from '../codec/links.ts'
import { ObjectCache } from '../storage/cache.ts'
import {
  BlockNotFoundError, HeightConflictError, InvalidQueryError, ParentNotFoundError, ReceiptNotFoundError, StoreClosedError,
  TransactionNotFoundError
} from '../storage/errors.ts'
import { BLOCKS_SUBLEVEL, HELIA_SUBLEVEL, PREFIX, blockKey, blockTxIdsKey, digestKey, heightKey, prefixRange } from '../storage/keys.ts'
import { openKv, type KvStore } from '../storage/kv.ts'
import { sealedKv } from '../storage/sealed-kv.ts'
import { openLevel, startBatch, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import { Replicator, type Consistency } from '../replication/replicator.ts'
import { withNetwork } from '../replication/network.ts'
import { NetworkDisabledError } from '../replication/errors.ts'
import { NETWORK_DIR, loadPeerKey } from '../replication/keys.ts'
import { collectGarbage, GcUnsafeError, type GcProgress, type GcSummary } from '../pinning/gc.ts'
import { GatewayClient, type GatewayScore } from '../gateway/client.ts'
import { StoreMetrics, TIMED_OPERATIONS } from '../metrics/index.ts'
import { migrateOnOpen } from '../migrations/index.ts'
import { startAttestations, type AttestationStore, type AttestationsRoom, type Keystore } from '../attestations/index.ts'
import { StateStore, exportSnapshot, importSnapshot, type DroppedRoot, type SnapshotInfo, type SnapshotManifest, type SnapshotProgress } from '../state/index.ts'
import type { StoreBatch as StateBatch } from '../storage/level.ts'

/** kv namespace where gateway scores persist. */
const GATEWAY_SCORES_NAMESPACE = 'gateway-scores'
import { addBlockToBatch, readFinalized, readHead, setChainPin, setHeadInBatch, writeFinalizedInBatch, type ChainPin } from './write-block.ts'
import { keptBy, leavingWindow, resolvePolicy, type PinPolicy } from '../pinning/policy.ts'
import type { WriteBatch } from '../storage/types.ts'
import type { AddFileOptions, GetBytesOptions, Head, NetworkStatus, PutBytesOptions, ReorgEvent, StoreStatus } from './types.ts'

/** Rough per-object overhead added to byte sizes when sizing cache entries. */
const OBJECT_OVERHEAD = 64

/**
 * The LevelDB blockstore Helia writes through, telling the store which
 * blocks a file import touches: Helia skips the put of a block it already
 * has (`has` first), so both calls count. The store uses it to take such
 * blocks out of the fetch cache before the file's pin holds them.
 */
class ImportAwareBlockstore extends LevelBlockstore {
  touched?: (cid: CID) => Promise<void>
  override async has (cid: CID, options?: any): Promise<boolean> {
    await this.touched?.(cid)
    return await super.has(cid, options)
  }

  override async put (cid: CID, bytes: Uint8Array, options?: any): Promise<CID> {
    await this.touched?.(cid)
    return await super.put(cid, bytes, options)
  }
}

/** What {@link ChainStore.maintenance} hands to backup, integrity and migration code. */
export interface MaintenanceAccess {
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  afterRepair: () => void
}

/** A height, or a block CID (object or string). */
export type BlockRef = number | string | CID

/** Options of `storeBlock(s)`. */
export interface StoreOptions {
  /**
   * `one` (default): return after the local durable write. `quorum` / `all`:
   * also wait until a majority of / every replica confirms it holds the
   * blocks verified and pinned (needs `network.enabled`).
   */
  consistency?: Consistency
  /** Fork-choice weight announced with the blocks (default 1). */
  weight?: number
  /** Announce the blocks as finalized. */
  finalized?: boolean
}

/**
 * The store: one LevelDB holding IPLD blocks (in blockstore-level's format, so
 * Helia serves them), every index and the kv namespaces; a memory tier of
 * decoded objects in front of it; Helia over the same blockstore for
 * content-addressed access and UnixFS.
 */
export class ChainStore {
  readonly config: ChainStoreConfig
  readonly helia: Helia
  readonly #db: RootDb
  readonly #blocks: BlocksDb
  readonly #fs: UnixFS
  readonly #log: Logger
  readonly #cache: ObjectCache
  /** The pin policy (config `pinning`): which chain blocks stay pinned as the head moves. */
  readonly #policy: PinPolicy
  #head: Head | null
  /** LevelDB `sync` for every write: true under `durability: 'power'`. */
  readonly #sync: boolean
  #open = true
  #stopping = false
  /** Set while GC or a fetch-cache eviction deletes blocks; file imports wait for it. */
  #gcRunning: Promise<void> | null = null
  /** Unpinned blocks fetched from peers or gateways: an LRU by bytes over blocks on disk. */
  readonly #fetched: FetchCache
  /** Pins waiting on the network (queued, pinning). */
  readonly #pinQueue: PinQueue
  /** States of the holds in the persisted pin queue (queued, pinning, failed), by root. */
  readonly #pinStates = new Map<string, PinState>()
  /** Highest finalized canonical height (-1: none). */
  #finalized: number
  #gcTimer: NodeJS.Timeout | null = null
  #disk: { at: number, value: Promise<number> } | null = null
  /** Blockstore size at the last scheduled GC that could not get under the watermark. */
  #gcStuckAt = 0
  #fileImports = 0
  readonly #importsDrained: Array<() => void> = []
  readonly #writes = new SerialQueue()
  /**
   * `block` ({@link StoredBlock} & { canonical }) for every block written,
   * `head` ({@link Head}) when the canonical tip moves, `reorg`
   * ({@link ReorgEvent}) when a fork-choice decision replaces canonical blocks.
   */
  readonly events = new EventEmitter()
  /** Prometheus registry, recent latencies, dashboard rate samples and alerts. */
  readonly metrics: StoreMetrics
  /**
   * Account and validator state (src/state): a Merkle Patricia Trie whose
   * nodes are IPLD blocks here. Every root a commit records is pinned in the
   * commit's batch and released as the pin policy's `state` rules let it go
   * (the latest root always stays).
   */
  state!: StateStore
  /** Validator attestations (config `attestations.enabled`): null when off. */
  attestations: AttestationStore | null = null
  /** The master-key keystore that seals attestation payloads and the record kinds config names (null when attestations are off). */
  keystore: Keystore | null = null
  #attestationsRoom: AttestationsRoom | null = null
  /** Replication over libp2p + OrbitDB, when `network.enabled`. */
  replication: Replicator | null = null
  /** Verified reads from trustless gateways, when `gateways.enabled`. */
  readonly #gateways: GatewayClient | null

  private constructor (init: { config: ChainStoreConfig, db: RootDb, blocks: BlocksDb, helia: Helia, log: Logger, head: Head | null, policy: PinPolicy, blockstore: ImportAwareBlockstore }) {
    this.#policy = init.policy
    this.metrics = new StoreMetrics(init.config.alerts, init.log)
    // every public operation below is timed into the metrics (one histogram, label op)
    for (const op of TIMED_OPERATIONS) {
      const fn = (this as any)[op].bind(this)
      ;(this as any)[op] = async (...args: unknown[]) => {
        const started = performance.now()
        try { return await fn(...args) } finally { this.metrics.observe(op, performance.now() - started) }
      }
    }
    this.#fetched = new FetchCache(init.config.cache.fetchedMaxBytes)
    this.#finalized = readFinalized(init.db)
    this.#pinQueue = new PinQueue({
      localBytes: cid => this.#blocks.getSync(blockKey(cid)) ?? undefined,
      fetch: async (cid, signal) => await this.#fetchRemote(cid, { signal }),
      skipLink: (cid, bytes) => cid.code === dagCbor.code && this.#blockHeight(cid) != null ? decodeHeader(bytes).parent : null,
      prefetch: async (job, signal) => { await this.#prefetchDag(job, signal) },
      store: async (fetched, local) => { await this.#storePinBlocks(fetched, local) },
      settle: async (job, state, error) => await this.#settlePin(job, state, error)
    }, init.log.child({ room: 'pins' }), init.config.pinning.concurrency)
    init.blockstore.touched = async cid => { await this.#claimImported(cid) }
    this.config = init.config
    this.#db = init.db
    this.#blocks = init.blocks
    this.helia = init.helia
    this.#fs = unixfs(init.helia)
    this.#log = init.log
    this.#cache = new ObjectCache(init.config.cache.maxBytes)
    this.#head = init.head
    this.#sync = init.config.durability === 'power'
    const gw = init.config.gateways
    this.#gateways = gw.enabled
      ? new GatewayClient({ gateways: gw.urls, timeoutMs: gw.timeoutMs, stallMs: gw.stallMs, maxBytes: init.config.limits.maxBlockBytes, maxCarBytes: gw.maxCarBytes, scores: openKv<GatewayScore>(init.db, GATEWAY_SCORES_NAMESPACE, { sync: this.#sync, isOpen: () => this.#open }), logger: init.log, onAttempt: a => { this.metrics.gatewayRequest(a.gateway, a.outcome) } })
      : null
  }

  /** Opens the data dir and starts Helia over it. Use `createChainStore`. */
  static async open (config: ChainStoreConfig, logger: Logger): Promise<ChainStore> {
    const log = logger.child({ room: 'node' })
    const policy = await resolvePolicy(config.pinning.preset, config.pinning.rules != null ? { rules: config.pinning.rules } : {})
    const { db, blocks } = await openLevel(config.dataDir, config.level)
    try {
      // schema first: a store from a newer version is refused before anything is written
      await migrateOnOpen(db, logger)
      const blockstore = new ImportAwareBlockstore(blocks as any)
      const datastore = new LevelDatastore(db.sublevel(HELIA_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' }) as any)
      let helia = createHeliaLight({ blockstore, datastore, codecs: [dagCbor] })
      if (config.network.enabled) {
        helia = withNetwork(helia, { ...config.network, privateKey: await loadPeerKey(config.dataDir, config.network.seed) })
      }
      await helia.start()
      const head = readHead(db)
      log.info({ dataDir: config.dataDir, head: head?.height ?? null }, 'store opened')
      const store = new ChainStore({ config, db, blocks, helia, log, head, policy, blockstore })
      try {
        await store.#fetched.load(db)
        store.state = await StateStore.open({
          db,
          blocks,
          sync: store.#sync,
          logger,
          hooks: {
            commit: async (batch, root, height) => { await store.#pinStateRoot(batch, root, height) },
            rollback: async (batch, dropped) => { await store.#releaseStateRoots(batch, dropped) }
          }
        })
        if (config.attestations.enabled) {
          store.#attestationsRoom = await startAttestations(config.attestations, { db, blocks, logger, sync: store.#sync })
          store.attestations = store.#attestationsRoom.attestations
          store.keystore = store.#attestationsRoom.keystore
        }
        if (config.network.enabled) {
          store.replication = new Replicator({ store, helia: helia as any, config, logger })
          await store.replication.start()
        }
        await store.#resumePins()
        store.#scheduleGc()
        store.metrics.start({
          status: async () => await store.status(),
          pinCounts: async () => await store.#pinCounts(),
          peerLags: () => store.replication == null ? null : [...store.replication.peerHeads.keys()].map(peer => ({ peer, lag: store.replication!.lagOf(peer) })),
          announcementsApplied: () => store.replication?.stats.announcementsApplied ?? 0
        })
      } catch (err) {
        await store.stop()
        throw err
      }
      return store
    } catch (err) {
      await db.close()
      throw err
    }
  }

  #assertOpen (): void {
    if (!this.#open) throw new StoreClosedError('store is stopped')
  }

  /** Serialises writers so parent checks and the head see every earlier write. */
  async #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    return await this.#writes.run(fn)
  }

  /** Stores one block; see {@link storeBlocks}. */
  async storeBlock (block: BlockInput, options: StoreOptions = {}): Promise<StoredBlock> {
    return (await this.storeBlocks([block], options))[0]
  }

  /**
   * Validates and encodes blocks, then writes their bytes, every index entry,
   * their pin records and the new head in one LevelDB batch. Blocks already
   * stored are skipped (`created: false`). Nothing is written when any block is
   * invalid. With replication on, the blocks are then announced in the chain
   * index (see {@link StoreOptions} for waiting on replicas).
   */
  async storeBlocks (blocks: BlockInput[], options: StoreOptions = {}): Promise<StoredBlock[]> {
    this.#assertOpen()
    if (!Array.isArray(blocks)) throw new InvalidBlockError('blocks: expected an array of blocks')
    const consistency = options.consistency ?? 'one'
    if (!['one', 'quorum', 'all'].includes(consistency)) throw new InvalidBlockError(`consistency: expected one, quorum or all, got ${String(consistency)}`)
    if (consistency !== 'one' && this.replication == null) throw new NetworkDisabledError(`consistency '${consistency}' needs replication (config network.enabled)`)
    const limits = this.config.limits
    const encoded = blocks.map(b => encodeBlock(b, limits))
    const stored = await this.#storeEncoded(encoded)
    if (options.finalized === true && encoded.length > 0) await this.setFinalized(Math.max(...encoded.map(b => b.height)))
    if (this.replication != null) {
      const fresh = encoded.filter((b, i) => stored[i].created)
      await this.replication.afterLocalWrite(fresh.map(b => ({ cid: b.cid, height: b.height, parent: b.parent, txCount: b.txs.length })), options)
    }
    return stored
  }

  async #storeEncoded (encoded: EncodedBlock[]): Promise<StoredBlock[]> {
    return await this.#exclusive(async () => {
      this.#assertOpen()
      const { results, fresh } = this.#checkLinks(encoded)
      if (fresh.length === 0) return results
      const batch = this.#startBatch()
      let head = this.#head
      for (const block of fresh) {
        if (head == null || block.height > head.height) head = { height: block.height, cid: block.cid }
      }
      for (const block of fresh) addBlockToBatch(batch, block, true, this.#chainPinAt(block.height, head!.height), this.#readPin)
      if (head !== this.#head && head != null) {
        setHeadInBatch(batch, head)
        this.#repinLeaving(batch, this.#head?.height ?? -1, head.height)
      }
      await batch.write(this.#sync)
      const moved = head !== this.#head
      this.#head = head
      this.metrics.blocksStored(fresh.length, fresh.reduce((n, b) => n + b.txs.length, 0), false)
      for (const r of results) if (r.created) this.events.emit('block', { ...r, canonical: true })
      if (moved) this.events.emit('head', head)
      return results
    })
  }

  /** The current pin record of a root (pins merge reasons into it). */
  readonly #readPin: PinReader = cid => readPin(this.#db, cid)

  /**
   * A batch over the root keyspace and the blockstore. While the fetch cache
   * holds blocks, every block the batch writes is claimed out of it: whatever
   * writes a block here (a chain import, a pin, putBytes) holds it, so the
   * cache's eviction must not delete it.
   */
  #startBatch (): StoreBatch {
    const batch = startBatch(this.#db, this.#blocks)
    if (this.#fetched.stats.entries === 0 && !this.#fetched.evictionsPending) return batch
    const put = batch.putBlock
    batch.putBlock = (cid, bytes) => { this.#fetched.claim(batch, cid); put(cid, bytes) }
    return batch
  }

  /** A file import touched a block: if the fetch cache holds it, the file's pin will; take it out now. */
  async #claimImported (cid: CID): Promise<void> {
    if (this.#fileImports === 0 || !this.#fetched.holds(cid)) return
    const batch = startBatch(this.#db, this.#blocks)
    this.#fetched.claim(batch, cid)
    await batch.write(this.#sync)
  }

  /** How the pin policy holds a chain block at `height` when the head is at `head`; side-branch blocks are never final. */
  #chainPinAt (height: number, head: number, canonical = true): ChainPin {
    const ctx = { head: Math.max(head, height), now: Date.now() }
    const finalized = canonical && height <= this.#finalized
    if (keptBy(this.#policy, { kind: 'page', height, finalized }, ctx).length > 0) return 'dag'
    if (keptBy(this.#policy, { kind: 'header', height, finalized }, ctx).length > 0) return 'header'
    return null
  }

  /**
   * Pins a state root in its commit's batch (recursive: the whole trie) and
   * releases the roots the policy's `state` rules no longer keep: the
   * previous head's root when no rule keeps state history, or the heights
   * leaving a `state` window. A root still recorded at a later height keeps
   * its pin (the record's height is the latest height that holds it).
   */
  async #pinStateRoot (batch: StateBatch, root: CID, height: number): Promise<void> {
    const previous = this.state?.head()
    const candidates = new Set<number>()
    if (previous != null && previous.height < height) {
      candidates.add(previous.height)
      for (const r of leavingWindow(this.#policy, 'state', previous.height, height)) for (let h = r.from; h <= Math.min(r.to, previous.height); h++) candidates.add(h)
    }
    const ctx = { head: height, now: Date.now() }
    for (const h of candidates) {
      if (keptBy(this.#policy, { kind: 'state', height: h }, ctx).length > 0) continue
      const old = await this.state.rootAt(h)
      if (old == null || old.equals(root)) continue
      if (readPin(this.#db, old)?.height === h) releaseInBatch(batch, this.#readPin, old, 'state')
    }
    holdInBatch(batch, this.#readPin, root, 'state', true, height)
  }

  /** A rollback's dropped roots lose their state pin (unless a kept height records the same root); the root rolled back to is held again. */
  async #releaseStateRoots (batch: StateBatch, dropped: DroppedRoot[]): Promise<void> {
    for (const d of dropped) if (!d.stillRecorded) releaseInBatch(batch, this.#readPin, d.root, 'state')
    const lowest = dropped.length > 0 ? Math.min(...dropped.map(d => d.height)) - 1 : undefined
    const target = lowest != null && lowest >= 0 ? await this.state.rootAt(lowest) : undefined
    if (target != null && lowest != null) holdInBatch(batch, this.#readPin, target, 'state', true, lowest)
  }

  /** Writes a CARv1 snapshot of the state root at `height` (every trie node under it, with a manifest). */
  async exportStateSnapshot (height: number, file: string, options: { onProgress?: SnapshotProgress, signal?: AbortSignal } = {}): Promise<SnapshotInfo> {
    this.#assertOpen()
    return await exportSnapshot(this.state, height, file, options)
  }

  /**
   * Imports a state snapshot (every node re-hashed, the DAG checked complete)
   * and adopts its root at the manifest's height, pinned. GC waits while it
   * runs: verified nodes land before the root's pin.
   */
  async importStateSnapshot (file: string, options: { onProgress?: SnapshotProgress, signal?: AbortSignal } = {}): Promise<SnapshotManifest> {
    this.#assertOpen()
    return await this.#importing(async () => await importSnapshot(file, this.state, options))
  }

  /**
   * Runs an import that writes blocks before the pin that holds them (a
   * UnixFS file through Helia, a state snapshot): it waits for a running GC
   * or eviction, and they wait for it (they would see its blocks unpinned).
   */
  async #importing<T> (fn: () => Promise<T>): Promise<T> {
    while (this.#gcRunning != null) await this.#gcRunning
    this.#fileImports++
    try {
      return await fn()
    } finally {
      if (--this.#fileImports === 0) for (const wake of this.#importsDrained.splice(0)) wake()
    }
  }

  /** Runs a deletion of blocks (GC, fetch-cache eviction) once no import runs; imports wait for it. */
  async #deleting<T> (fn: () => Promise<T>): Promise<T> {
    let done!: () => void
    this.#gcRunning = new Promise<void>(resolve => { done = resolve })
    try {
      while (this.#fileImports > 0) await new Promise<void>(resolve => this.#importsDrained.push(resolve))
      return await fn()
    } finally {
      this.#gcRunning = null
      done()
    }
  }

  /** Highest finalized height on the canonical chain (-1: none). */
  finalizedHeight (): number {
    return this.#finalized
  }

  /**
   * Marks the canonical chain final up to `height` (capped at the head). The
   * blocks the policy keeps once final (rules with `finalizedOnly`, such as
   * the validator preset's checkpoints) are repinned in the same batch; one
   * whose pages were already collected gets a chain pin job that fetches
   * them back (its record shows `queued`, then `pinning`, `pinned`).
   */
  async setFinalized (height: number): Promise<void> {
    this.#assertOpen()
    assertHeight(height)
    const jobs: PinJob[] = []
    await this.#exclusive(async () => {
      this.#assertOpen()
      const head = this.#head?.height ?? -1
      const from = this.#finalized
      const to = Math.min(height, head)
      if (to <= from) return
      const batch = this.#startBatch()
      writeFinalizedInBatch(batch, to)
      this.#finalized = to
      try {
        for (const h of finalityHeights(this.#policy, from + 1, to)) {
          const at = this.#db.getSync(heightKey(h))
          if (at == null) continue
          const cid = CID.decode(at)
          const pin = this.#chainPinAt(h, head)
          if (pin === 'dag' && !this.#dagStored(cid)) {
            const job: PinJob = { cid, reason: 'chain', recursive: true, height: h }
            holdInBatch(batch, this.#readPin, cid, 'chain', true, h, { state: 'queued' })
            queueInBatch(batch, job, 'queued')
            jobs.push(job)
          } else {
            setChainPin(batch, cid, h, pin, this.#readPin)
          }
        }
        await batch.write(this.#sync)
      } catch (err) {
        this.#finalized = from
        throw err
      }
      this.#log.debug({ from, to, refetch: jobs.length }, 'finalized')
    })
    for (const job of jobs) {
      this.#pinStates.set(job.cid.toString(), 'queued')
      void this.#pinQueue.run(job)
    }
  }

  /** True when a block's header and every page are stored here. */
  #dagStored (cid: CID): boolean {
    const header = this.#blocks.getSync(blockKey(cid))
    if (header == null) return false
    return headerLinks(header).pages.every(p => this.#blocks.getSync(blockKey(p)) != null)
  }

  /**
   * As the head moves from `from` to `to`, the canonical blocks that leave a
   * window of the pin policy get their pin records rewritten in the same batch
   * (header only, or none); GC then collects what is no longer held.
   */
  #repinLeaving (batch: WriteBatch, from: number, to: number): void {
    if (from < 0) return
    const heights = new Set<number>()
    for (const kind of ['page', 'header'] as const) {
      for (const r of leavingWindow(this.#policy, kind, from, to)) for (let h = r.from; h <= Math.min(r.to, from); h++) heights.add(h)
    }
    for (const h of heights) {
      const at = this.#db.getSync(heightKey(h))
      if (at != null) setChainPin(batch, CID.decode(at), h, this.#chainPinAt(h, to), this.#readPin)
    }
  }

  /** True when the block's header is stored here (canonical or side branch). */
  hasBlock (cid: CID | string): boolean {
    this.#assertOpen()
    return this.#blockHeight(parseCid(cid, 'block')) != null
  }

  /**
   * Stores blocks received from peers, already rebuilt and verified from their
   * bytes ({@link blockFromBytes}). A block that extends the canonical tip is
   * indexed at once; any other goes on a side branch (bytes, block record and
   * chain pin, no canonical index entries) until {@link setCanonical} picks it.
   * Parents must be stored unless the config allows gaps.
   */
  async importBlocks (blocks: EncodedBlock[]): Promise<Array<{ cid: CID, height: number, created: boolean, canonical: boolean }>> {
    this.#assertOpen()
    return await this.#exclusive(async () => {
      this.#assertOpen()
      const out: Array<{ cid: CID, height: number, created: boolean, canonical: boolean }> = []
      const batch = this.#startBatch()
      const pending = new Map<string, number>()
      const toAdd: Array<{ block: EncodedBlock, canonical: boolean }> = []
      let head = this.#head
      for (const block of [...blocks].sort((a, b) => a.height - b.height)) {
        const key = block.cid.toString()
        if (pending.has(key) || this.#blockHeight(block.cid) != null) {
          out.push({ cid: block.cid, height: block.height, created: false, canonical: this.#isCanonical(block.cid, block.height) })
          continue
        }
        this.#parentHeight(block, pending)
        const extendsHead = head == null
          ? block.parent == null || this.config.allowGaps
          : block.parent != null && block.parent.equals(head.cid) && block.height === head.height + 1
        toAdd.push({ block, canonical: extendsHead })
        if (extendsHead) head = { height: block.height, cid: block.cid }
        pending.set(key, block.height)
        out.push({ cid: block.cid, height: block.height, created: true, canonical: extendsHead })
      }
      if (toAdd.length === 0) return out
      // pins follow the policy at the head this batch ends with
      const pinHead = head?.height ?? -1
      for (const { block, canonical } of toAdd) addBlockToBatch(batch, block, canonical, this.#chainPinAt(block.height, pinHead, canonical), this.#readPin)
      const moved = head !== this.#head
      if (moved && head != null) {
        setHeadInBatch(batch, head)
        this.#repinLeaving(batch, this.#head?.height ?? -1, head.height)
      }
      await batch.write(this.#sync)
      this.#head = head
      this.metrics.blocksStored(toAdd.length, toAdd.reduce((n, a) => n + a.block.txs.length, 0), true)
      for (const r of out) if (r.created) this.events.emit('block', r)
      if (moved) this.events.emit('head', head)
      return out
    })
  }

  /**
   * Makes `tip` the canonical head: walks its ancestry back to the canonical
   * chain, then in ONE batch removes the index entries of the canonical blocks
   * past the fork point, indexes the new branch, and moves the head. Emits
   * `reorg` when canonical blocks were replaced, and `head`.
   */
  async setCanonical (tipInput: CID | string): Promise<ReorgEvent | null> {
    this.#assertOpen()
    const tip = parseCid(tipInput, 'tip')
    return await this.#exclusive(async () => {
      this.#assertOpen()
      if (this.#head != null && this.#head.cid.equals(tip)) return null
      const branch: EncodedBlock[] = []
      let cursor: CID | null = tip
      let forkHeight = -1
      while (cursor != null) {
        const height = this.#blockHeight(cursor)
        if (height == null) {
          if (this.config.allowGaps && branch.length > 0) break
          throw new BlockNotFoundError(`setCanonical: block ${cursor.toString()} is not stored`)
        }
        if (this.#isCanonical(cursor, height)) { forkHeight = height; break }
        const block = this.#encodedFromStore(cursor)
        branch.push(block)
        cursor = block.parent
      }
      branch.reverse()
      const batch = this.#startBatch()
      const removed: CID[] = []
      const oldHead = this.#head
      if (oldHead != null) {
        for (let h = oldHead.height; h > forkHeight; h--) {
          const at = this.#db.getSync(heightKey(h))
          if (at == null) continue
          const cid = CID.decode(at)
          unindexBlock(batch, this.#encodedFromStore(cid))
          removed.push(cid)
        }
      }
      for (const block of branch) indexBlock(batch, block)
      // a reorg below the finalized height means the index finalized another branch: finality restarts at the fork
      const finalized = Math.min(this.#finalized, forkHeight)
      if (finalized !== this.#finalized) writeFinalizedInBatch(batch, finalized)
      const head: Head = branch.length > 0
        ? { height: branch[branch.length - 1].height, cid: branch[branch.length - 1].cid }
        : { height: forkHeight, cid: tip }
      setHeadInBatch(batch, head)
      await batch.write(this.#sync)
      this.#head = head
      this.#finalized = finalized
      // heights now name other blocks; decoded objects keyed by height are stale
      this.#cache.clear()
      removed.reverse()
      const event: ReorgEvent = { from: oldHead, to: head, forkHeight, removed, added: branch.map(b => b.cid) }
      if (removed.length > 0) {
        this.#log.info({ from: oldHead?.height, to: head.height, forkHeight, removed: removed.length, added: branch.length }, 'reorg')
        this.events.emit('reorg', event)
      }
      this.events.emit('head', head)
      return event
    })
  }

  /** A stored block rebuilt from its bytes, as indexing needs it. */
  #encodedFromStore (cid: CID): EncodedBlock {
    return blockFromBytes(cid, this.#localBytes(cid), c => this.#blocks.getSync(blockKey(c)) ?? undefined, this.config.limits)
  }

  /** The IPLD blocks of a stored block's DAG: header first, then its pages. */
  blockDag (cidInput: CID | string): IpldBlock[] {
    this.#assertOpen()
    const cid = parseCid(cidInput, 'block')
    const header = this.#localBytes(cid)
    const out: IpldBlock[] = [{ cid, bytes: header }]
    const h = decodeHeader(header)
    for (const p of [...h.txPages, ...h.receiptPages]) out.push({ cid: p, bytes: this.#localBytes(p) })
    return out
  }

  /** Bytes of any IPLD block stored here (chain or not), or undefined; never touches the network. */
  localBytes (cidInput: CID | string): Uint8Array | undefined {
    this.#assertOpen()
    return this.#blocks.getSync(blockKey(parseCid(cidInput))) ?? undefined
  }

  /**
   * Writes IPLD blocks in one batch without pin records (a cache fill). The
   * caller must have hashed every block against its CID; replication does so
   * for everything a peer sends.
   */
  async putVerifiedBlocks (blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<void> {
    this.#assertOpen()
    const batch = this.#startBatch()
    for (const b of blocks) batch.putBlock(b.cid, b.bytes)
    await batch.write(this.#sync)
  }

  /** The header CID at a canonical height, or undefined. */
  canonicalAt (height: number): CID | undefined {
    this.#assertOpen()
    const at = this.#db.getSync(heightKey(assertHeight(height)))
    return at == null ? undefined : CID.decode(at)
  }

  /** Applies dedupe, height-conflict and parent rules; returns the blocks to write. */
  #checkLinks (encoded: EncodedBlock[]): { results: StoredBlock[], fresh: EncodedBlock[] } {
    const pending = new Map<string, number>()
    const pendingHeights = new Map<number, string>()
    const fresh: EncodedBlock[] = []
    const order = encoded.map((b, i) => i).sort((a, b) => encoded[a].height - encoded[b].height)
    const out: StoredBlock[] = new Array(encoded.length)
    for (const i of order) {
      const block = encoded[i]
      const key = block.cid.toString()
      out[i] = { cid: block.cid, height: block.height, txIds: block.txs.map(t => t.id), created: false }
      if (pending.has(key) || this.#blockHeight(block.cid) != null) continue
      const stored = this.#db.getSync(heightKey(block.height))
      const other = pendingHeights.get(block.height) ?? (stored != null ? CID.decode(stored).toString() : undefined)
      if (other != null) {
        throw new HeightConflictError(`height ${block.height}: block ${other} is already stored there; ${key} conflicts with it`)
      }
      const parentHeight = this.#parentHeight(block, pending)
      if (block.parent != null && parentHeight != null && !pending.has(block.parent.toString()) && !this.#isCanonical(block.parent, parentHeight)) {
        throw new InvalidBlockError(`block ${block.height}: parent ${block.parent.toString()} is on a side branch; local writes extend the canonical chain`)
      }
      pending.set(key, block.height)
      pendingHeights.set(block.height, key)
      out[i].created = true
      fresh.push(block)
    }
    return { results: out, fresh }
  }

  /**
   * The parent's height (stored or earlier in the same batch), or undefined
   * for a root or an allowed gap; throws when the parent is missing (gaps
   * refused) or at the wrong height.
   */
  #parentHeight (block: EncodedBlock, pending: Map<string, number>): number | undefined {
    if (block.parent == null) return undefined
    const parentHeight = pending.get(block.parent.toString()) ?? this.#blockHeight(block.parent)
    if (parentHeight == null && !this.config.allowGaps) {
      throw new ParentNotFoundError(`block ${block.height}: parent ${block.parent.toString()} is not stored (config allowGaps is false)`)
    }
    if (parentHeight != null && parentHeight !== block.height - 1) {
      throw new InvalidBlockError(`block ${block.height}: parent ${block.parent.toString()} is at height ${parentHeight}, expected ${block.height - 1}`)
    }
    return parentHeight
  }

  #isCanonical (cid: CID, height: number): boolean {
    const at = this.#db.getSync(heightKey(height))
    return at != null && equalBytes(at, cid.bytes)
  }

  #blockHeight (cid: CID): number | undefined {
    const rec = this.#db.getSync(digestKey(PREFIX.BLOCK, cid.multihash.digest))
    return rec == null ? undefined : decodeBlockRecord(rec).height
  }

  /** The latest stored block, or null for an empty store. */
  head (): Head | null {
    this.#assertOpen()
    return this.#head
  }

  /** Resolves a height or CID to the CID of a stored block header. */
  #resolve (ref: BlockRef): CID {
    if (typeof ref === 'number') {
      const bytes = this.#db.getSync(heightKey(assertHeight(ref)))
      if (bytes == null) throw new BlockNotFoundError(`no block at height ${ref}`)
      return CID.decode(bytes)
    }
    const cid = parseCid(ref, 'block')
    if (this.#blockHeight(cid) == null) throw new BlockNotFoundError(`no block ${cid.toString()}`)
    return cid
  }

  #localBytes (cid: CID): Uint8Array {
    const bytes = this.#blocks.getSync(blockKey(cid))
    if (bytes == null) throw new BlockNotFoundError(`block ${cid.toString()} is indexed but its bytes are not stored here (the pin policy let them go, or they were lost)`)
    return bytes
  }

  /** The decoded header of a block. */
  async getHeader (ref: BlockRef): Promise<BlockHeader & { cid: CID }> {
    return this.getHeaderSync(ref)
  }

  /** Synchronous {@link getHeader}: local reads never wait on I/O threads. */
  getHeaderSync (ref: BlockRef): BlockHeader & { cid: CID } {
    this.#assertOpen()
    const key = cacheKey(ref)
    const hit = this.#cache.get<BlockHeader & { cid: CID }>('header', key)
    if (hit != null) return hit
    const cid = this.#resolve(ref)
    const bytes = this.#localBytes(cid)
    const header = { cid, ...decodeHeader(bytes) }
    this.#cache.set('header', key, header, bytes.length * 2 + OBJECT_OVERHEAD)
    return header
  }

  /** A whole block: header, transactions and their ids. */
  async getBlock (ref: BlockRef): Promise<Block> {
    return this.getBlockSync(ref)
  }

  /** Synchronous {@link getBlock}. */
  getBlockSync (ref: BlockRef): Block {
    this.#assertOpen()
    const hit = this.#cache.get<Block>('block', cacheKey(ref))
    if (hit != null) return hit
    return this.#readBlock(this.#resolve(ref), true)
  }

  #readBlock (cid: CID, cache: boolean): Block {
    const headerBytes = this.#localBytes(cid)
    const header = decodeHeader(headerBytes)
    let size = headerBytes.length
    const transactions = []
    for (const pageCid of header.txPages) {
      const bytes = this.#localBytes(pageCid)
      size += bytes.length
      for (const tx of decodeTxPage(bytes)) transactions.push(tx)
    }
    if (transactions.length !== header.txCount) throw new CorruptDataError(`block ${cid.toString()}: header says ${header.txCount} transactions, pages hold ${transactions.length}`)
    let txIds: CID[]
    if (this.#isCanonical(cid, header.height)) {
      const ids = this.#db.getSync(blockTxIdsKey(header.height))
      txIds = new Array(header.txCount)
      for (let i = 0; i < header.txCount; i++) txIds[i] = cidFromDigest(ids!.slice(i * 32, i * 32 + 32))
    } else {
      // side-branch blocks have no canonical index entries: ids from the pages
      txIds = this.#encodedFromStore(cid).txs.map(t => t.id)
    }
    const block: Block = { cid, header, transactions, txIds }
    // decoded objects take about twice their encoded size, plus the id CIDs
    const estimate = size * 2 + header.txCount * 120 + OBJECT_OVERHEAD
    if (cache) {
      this.#cache.set('block', header.height, block, estimate)
      this.#cache.set('block', cid.toString(), block, estimate)
    }
    return block
  }

  /**
   * Blocks from `fromHeight` to `toHeight` inclusive, in order, one at a time
   * (never the range in memory). A range scan reads past the memory tier
   * without filling it, so one sync or export does not evict the hot set.
   */
  async * getBlocks (fromHeight: number, toHeight: number, options: { signal?: AbortSignal } = {}): AsyncGenerator<Block> {
    this.#assertOpen()
    assertHeight(fromHeight, 'fromHeight')
    assertHeight(toHeight, 'toHeight')
    for await (const [, value] of this.#db.iterator({ gte: heightKey(fromHeight), lte: heightKey(toHeight) })) {
      options.signal?.throwIfAborted()
      const cid = CID.decode(value)
      yield this.#cache.get<Block>('block', cid.toString()) ?? this.#readBlock(cid, false)
    }
  }

  #txRecord (txId: string | CID): { id: CID, record: TxRecord } {
    const id = parseCid(txId, 'txId')
    const bytes = this.#db.getSync(digestKey(PREFIX.TX, id.multihash.digest))
    if (bytes == null) throw new TransactionNotFoundError(`no transaction ${id.toString()}`)
    return { id, record: decodeTxRecord(bytes) }
  }

  /** A transaction with its block, page and position. */
  async getTransaction (txId: string | CID): Promise<TransactionRecord> {
    return this.getTransactionSync(txId)
  }

  /** Synchronous {@link getTransaction}. */
  getTransactionSync (txId: string | CID): TransactionRecord {
    this.#assertOpen()
    const hit = this.#cache.get<TransactionRecord>('tx', cacheKey(txId))
    if (hit != null) return hit
    const { id, record } = this.#txRecord(txId)
    const out: TransactionRecord = {
      id,
      transaction: decodeTx(record.txBytes),
      blockCid: record.blockCid,
      height: record.height,
      page: record.page,
      pageCid: record.pageCid,
      position: record.position,
      index: record.index
    }
    this.#cache.set('tx', id.toString(), out, record.txBytes.length * 2 + 400)
    return out
  }

  /** The receipt of a transaction, read from its block's receipt page. */
  async getReceipt (txId: string | CID): Promise<ReceiptRecord> {
    this.#assertOpen()
    const { id, record } = this.#txRecord(txId)
    if (record.receiptPageCid == null) throw new ReceiptNotFoundError(`transaction ${id.toString()} was stored without a receipt`)
    const page = this.#localBytes(record.receiptPageCid)
    const receipt = decodeReceipt(page.subarray(record.receiptOffset, record.receiptOffset + record.receiptLength))
    return { txId: id, receipt, blockCid: record.blockCid, height: record.height, page: record.page, pageCid: record.pageCid, position: record.position, index: record.index }
  }

  /** One page of the transactions that an address sent or received, oldest first unless `reverse`. */
  async getAddressHistory (address: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    this.#assertOpen()
    const { entries, cursor } = await readAddressHistory(this.#db, address, options)
    const items = entries.map(e => this.getTransactionSync(cidFromDigest(e.txDigest)))
    return cursor == null ? { items } : { items, cursor }
  }

  /** Logs matching an address and/or topics over a height range, from the log indexes. */
  async getLogs (query: LogQuery = {}): Promise<LogRecord[]> {
    this.#assertOpen()
    return await readLogs(this.#db, query, this.#head?.height ?? 0)
  }

  /**
   * The raw parts maintenance modules (backup, integrity checks and repair,
   * migrations) work on: the root LevelDB, the blocks sublevel, the sync flag,
   * `exclusive(fn)` to run under the store's write lock (no other write, pin or
   * GC meanwhile) and `afterRepair()` to reload what the store keeps in memory
   * (head, finalized height, memory tier) after they rewrote the database.
   */
  maintenance (): MaintenanceAccess {
    this.#assertOpen()
    return {
      db: this.#db,
      blocks: this.#blocks,
      sync: this.#sync,
      exclusive: async <T>(fn: () => Promise<T>): Promise<T> => await this.#exclusive(async () => { this.#assertOpen(); return await fn() }),
      afterRepair: () => {
        this.#head = readHead(this.#db)
        this.#finalized = readFinalized(this.#db)
        this.#cache.clear()
      }
    }
  }

  /**
   * A namespaced key-value store over the same LevelDB (JSON values). A
   * namespace config `attestations.encryptKinds` names as `kv.<namespace>` is
   * encrypted at rest under the keystore (see sealedKv).
   */
  kv<V = unknown> (namespace: string): KvStore<V> {
    this.#assertOpen()
    const kv = openKv<V>(this.#db, namespace, { sync: this.#sync, isOpen: () => this.#open })
    if (!this.config.attestations.encryptKinds.includes(`kv.${namespace}`)) return kv
    if (this.keystore == null) throw new InvalidQueryError(`kv namespace ${namespace} is to be encrypted (attestations.encryptKinds) but there is no keystore: enable attestations and give a master key`)
    return sealedKv<V>(kv as unknown as KvStore<string>, this.keystore)
  }

  /** Stores raw bytes (or dag-cbor) as an IPLD block and returns its CID. */
  async putBytes (bytes: Uint8Array, options: PutBytesOptions = {}): Promise<CID> {
    this.#assertOpen()
    if (!(bytes instanceof Uint8Array)) throw new InvalidBlockError('putBytes: expected a Uint8Array')
    if (bytes.length > this.config.limits.maxBlockBytes) throw new InvalidBlockError(`putBytes: ${bytes.length} bytes, limit is ${this.config.limits.maxBlockBytes}; use addFile for large payloads`)
    const codec = options.codec ?? 'raw'
    if (codec === 'dag-cbor') {
      try { dagCbor.decode(bytes) } catch (err) { throw new InvalidBlockError('putBytes: bytes are not valid dag-cbor', { cause: err }) }
    } else if (codec !== 'raw') throw new InvalidBlockError(`putBytes: codec must be raw or dag-cbor, got ${String(codec)}`)
    const cid = cidOf(bytes, codec === 'raw' ? RAW : dagCbor.code)
    options.signal?.throwIfAborted()
    // under the write lock: GC (which holds it) must not sweep a block this pins
    return await this.#exclusive(async () => {
      this.#assertOpen()
      const batch = this.#startBatch()
      batch.putBlock(cid, bytes)
      if (options.pin !== false) holdInBatch(batch, this.#readPin, cid, 'user', false)
      await batch.write(this.#sync)
      return cid
    })
  }

  /**
   * Bytes of a block by CID: this store first; then, with replication on,
   * connected peers (bitswap, `timeoutMs`, default `network.readTimeoutMs`);
   * then, with `gateways.enabled`, IPFS trustless gateways in score order.
   * Bytes from a peer or gateway are hashed against the CID before they are
   * returned, and kept in the fetch cache (unpinned, LRU by bytes, config
   * `cache.fetchedMaxBytes`).
   */
  async getBytes (cidInput: string | CID, options: GetBytesOptions = {}): Promise<Uint8Array> {
    this.#assertOpen()
    const cid = parseCid(cidInput)
    const key = blockKey(cid)
    const local = this.#blocks.getSync(key)
    if (local != null) {
      this.#fetched.touch(key)
      return local
    }
    this.#fetched.miss()
    const bytes = await this.#fetchRemote(cid, options)
    await this.#admitFetched(cid, bytes)
    return bytes
  }

  /** A block from connected peers, then gateways; verified against its CID, not stored. */
  async #fetchRemote (cid: CID, options: GetBytesOptions): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    const tried: string[] = []
    let cause: unknown
    if (this.replication != null) {
      const ms = options.timeoutMs ?? this.config.network.readTimeoutMs
      const timeout = AbortSignal.timeout(ms)
      const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
      try {
        return await this.replication.getBytes(cid, signal)
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        tried.push(`connected peers within ${ms} ms`)
        cause = err
      }
    }
    if (this.#gateways != null) {
      try {
        return await this.#gateways.fetchBlock(cid, { signal: options.signal })
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        tried.push((err as Error).message)
        cause = err
      }
    }
    throw new BlockNotFoundError(`no block ${cid.toString()} in this store${tried.length > 0 ? `, ${tried.join('; ')}` : ''}`, { cause })
  }

  /**
   * Stores a fetched (verified) block in the fetch cache: its bytes and its
   * cache record in one batch, then deletes what the LRU evicted. Under the
   * write lock, so no pin can take over a block while eviction deletes it.
   */
  async #admitFetched (cid: CID, bytes: Uint8Array): Promise<void> {
    await this.#exclusive(async () => {
      if (!this.#open) return
      const batch = this.#startBatch()
      // bitswap may already have written the bytes through Helia
      if (this.#blocks.getSync(blockKey(cid)) == null) batch.putBlock(cid, bytes)
      // a block a pin already holds stays out of the cache
      const admit = readPin(this.#db, cid) == null && this.#fetched.admitInBatch(batch, cid, bytes.length)
      if (batch.length === 0) return
      await batch.write(this.#sync)
      if (admit) this.#fetched.admitted(cid, bytes.length)
      await this.#evictFetched()
    })
  }

  /** Deletes the blocks the fetch cache's LRU pushed out; waits while a file import runs (it may reuse one). Call under the write lock. */
  async #evictFetched (): Promise<void> {
    if (!this.#fetched.evictionsPending || this.#fileImports > 0 || this.#gcRunning != null) return
    await this.#deleting(async () => { await this.#deleteEvicted() })
  }

  async #deleteEvicted (): Promise<void> {
    if (!this.#fetched.evictionsPending) return
    const batch = startBatch(this.#db, this.#blocks)
    const n = this.#fetched.evictInBatch(batch)
    await batch.write(this.#sync)
    this.#log.debug({ evicted: n, cache: this.#fetched.stats }, 'fetch cache eviction')
  }

  /** Adds a payload of any size as a UnixFS DAG (standard IPFS file) and pins its root. */
  async addFile (content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AddFileOptions = {}): Promise<CID> {
    this.#assertOpen()
    // a file's blocks land one Helia put at a time before its pin record
    return await this.#importing(async () => {
      const cid = content instanceof Uint8Array
        ? await this.#fs.addBytes(content, { signal: options.signal })
        : await this.#fs.addByteStream(content as AsyncIterable<Uint8Array>, { signal: options.signal })
      // the pin record's write comes after the blocks in LevelDB's log, so
      // syncing it makes all of them durable too
      const batch = this.#startBatch()
      holdInBatch(batch, this.#readPin, cid, 'blob', true)
      await batch.write(this.#sync)
      return cid
    })
  }

  /**
   * Deletes every block no pin, fetch-cache entry or (with replication on)
   * replicated log holds: mark from the pin records and log roots, sweep the
   * blocks of one LevelDB snapshot. Store writes wait while it runs
   * (stop-the-world; a pin written during GC can never point at a block GC is
   * deleting). With `compact` the blocks' key range is compacted afterwards,
   * so LevelDB gives the disk space back now rather than at its next
   * compaction. Refused when the data dir holds replicated logs but
   * replication is off, since their entries are kept unpinned.
   */
  async gc (options: { onProgress?: GcProgress, signal?: AbortSignal, compact?: boolean } = {}): Promise<GcSummary> {
    this.#assertOpen()
    if (this.replication == null && existsSync(join(this.config.dataDir, NETWORK_DIR, 'orbitdb'))) {
      throw new GcUnsafeError(`data dir ${this.config.dataDir} holds replicated logs (network/orbitdb) but replication is off: their entries are unpinned, GC would delete them; run gc with network.enabled`)
    }
    return await this.#exclusive(async () => {
      this.#assertOpen()
      return await this.#deleting(async () => {
        await this.#deleteEvicted()
        const roots = this.replication != null ? await this.replication.keepRoots() : []
        const summary = await collectGarbage(this.#db, this.#blocks, roots, { sync: this.#sync, keepKeys: this.#fetched.keys(), ...options })
        this.#cache.clear()
        if (options.compact === true && summary.deleted > 0) {
          const t = performance.now()
          await this.#db.compactRange(...blocksRange())
          summary.compactMs = performance.now() - t
        }
        this.#log.info(summary, 'gc')
        this.metrics.gcDone(summary)
        this.events.emit('gc', summary)
        return summary
      })
    })
  }

  /** LevelDB's estimate of the bytes the blockstore takes on disk. */
  async blockstoreBytes (): Promise<number> {
    this.#assertOpen()
    return await this.#db.approximateSize(...blocksRange())
  }

  /**
   * Scheduled GC (config `gc`, like Kubo's StorageMax and
   * StorageGCWatermark): every `checkIntervalMs` the blockstore's size is
   * compared with `watermarkPercent` of `storageMaxBytes`; past it, GC runs
   * with compaction. When GC cannot get under the watermark (everything left
   * is pinned) it warns once and waits until the store has grown by another
   * tenth of the watermark before trying again.
   */
  #scheduleGc (): void {
    const { storageMaxBytes, watermarkPercent, checkIntervalMs } = this.config.gc
    if (storageMaxBytes == null) return
    const watermark = Math.floor(storageMaxBytes * watermarkPercent / 100)
    let checking = false
    this.#gcTimer = setInterval(() => {
      if (checking || !this.#open || this.#stopping || this.#gcRunning != null) return
      checking = true
      void (async () => {
        const bytes = await this.blockstoreBytes()
        if (bytes < watermark || (this.#gcStuckAt > 0 && bytes < this.#gcStuckAt + watermark / 10)) return
        this.#log.info({ bytes, watermark }, 'blockstore past the GC watermark: collecting')
        const summary = await this.gc({ compact: true })
        const after = await this.blockstoreBytes()
        if (after >= watermark) {
          if (this.#gcStuckAt === 0) this.#log.warn({ bytes: after, watermark, storageMaxBytes }, 'blockstore still past the GC watermark after GC: what is left is held by pins')
          this.#gcStuckAt = after
        } else {
          this.#gcStuckAt = 0
        }
        this.#log.info({ deleted: summary.deleted, bytesFreed: summary.bytesFreed, before: bytes, after }, 'scheduled gc done')
      })().catch(err => {
        if (this.#open) this.#log.warn({ err: (err as Error).message }, 'scheduled gc failed')
      }).finally(() => { checking = false })
    }, checkIntervalMs)
    this.#gcTimer.unref()
  }

  /** Streams a UnixFS file's bytes. */
  async * cat (cidInput: string | CID, options: { signal?: AbortSignal, offset?: number, length?: number } = {}): AsyncGenerator<Uint8Array> {
    this.#assertOpen()
    const cid = parseCid(cidInput)
    yield * this.#fs.cat(cid, { ...options, offline: true } as any)
  }

  /**
   * Pins a root for the user: with `recursive` (default) its whole DAG. The
   * record is written at once as `queued`; a pin job then walks the DAG,
   * fetching blocks not stored here through peers and gateways (verified
   * against their CIDs), `pinning` while it runs, then `pinned`, or `failed`
   * with the reason after {@link PIN_ATTEMPTS} attempts. With `wait` (default)
   * this resolves with the pinned record or throws PinFailedError; without,
   * it returns the queued record (`pins()` shows how it goes on).
   */
  async pin (cidInput: CID | string, options: { recursive?: boolean, wait?: boolean, signal?: AbortSignal } = {}): Promise<PinRecord> {
    this.#assertOpen()
    const root = parseCid(cidInput)
    const job: PinJob = { cid: root, reason: 'user', recursive: options.recursive ?? true }
    const record = await this.#exclusive(async () => {
      this.#assertOpen()
      const existing = readPin(this.#db, root)
      const holds = existing?.reasons.includes('user') === true && (existing.deep?.includes('user') ?? existing.recursive) === job.recursive
      if (holds && existing!.state === 'pinned') return existing
      if (holds && (existing!.state === 'queued' || existing!.state === 'pinning') && this.#pinQueue.has(root)) return existing
      const batch = this.#startBatch()
      holdInBatch(batch, this.#readPin, root, 'user', job.recursive, undefined, { state: 'queued' })
      queueInBatch(batch, job, 'queued')
      await batch.write(this.#sync)
      this.#pinStates.set(root.toString(), 'queued')
      return undefined
    })
    if (record != null && record.state === 'pinned') return record
    const done = this.#pinQueue.run(job)
    if (options.wait === false) return readPin(this.#db, root)!
    if (options.signal == null) return (await done) ?? readPin(this.#db, root)!
    const aborted = new Promise<never>((resolve, reject) => {
      options.signal!.addEventListener('abort', () => { reject(options.signal!.reason) }, { once: true })
    })
    options.signal.throwIfAborted()
    return (await Promise.race([done, aborted])) ?? readPin(this.#db, root)!
  }

  /**
   * With no peer connected, a pin of a DAG not stored here first asks the
   * gateways for all of it in one CAR (`dag-scope=all` for UnixFS and raw
   * roots; `entity` for dag-cbor, which for a chain header on a chainstore
   * gateway is the header and its pages). Only blocks reachable from the root
   * are kept, parents first; the walk that follows fetches anything still
   * missing. Any failure leaves the walk to do it block by block.
   */
  async #prefetchDag (job: PinJob, signal: AbortSignal): Promise<void> {
    if (this.#gateways == null || !job.recursive) return
    if (this.replication != null && this.replication.libp2p.getConnections().length > 0) return
    let blocks: Array<{ cid: CID, bytes: Uint8Array }>
    try {
      blocks = await this.#gateways.fetchDag(job.cid, { scope: job.cid.code === dagCbor.code ? 'entity' : 'all', signal })
    } catch (err) {
      if (signal.aborted) throw err
      this.#log.debug({ cid: job.cid.toString(), err: (err as Error).message }, 'no CAR for the DAG; fetching block by block')
      return
    }
    const byCid = new Map(blocks.map(b => [b.cid.toString(), b]))
    const reachable: Array<{ cid: CID, bytes: Uint8Array }> = []
    const stack = [job.cid]
    const seen = new Set<string>()
    while (stack.length > 0) {
      const cid = stack.pop()!
      const b = byCid.get(cid.toString())
      if (b == null || seen.has(cid.toString())) continue
      seen.add(cid.toString())
      if (this.#blocks.getSync(blockKey(cid)) == null) reachable.push(b)
      let links: CID[] = []
      // bytes that hash right but do not decode: the walk's own check reports it
      try { links = linksOf(cid, b.bytes) ?? [] } catch {}
      for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
    }
    for (let i = 0; i < reachable.length; i += 256) await this.#storePinBlocks(reachable.slice(i, i + 256), [])
  }

  /** Writes blocks a pin job fetched (verified) and claims the local ones out of the fetch cache, in one batch. */
  async #storePinBlocks (fetched: Array<{ cid: CID, bytes: Uint8Array }>, local: CID[]): Promise<void> {
    await this.#exclusive(async () => {
      this.#assertOpen()
      const batch = this.#startBatch()
      for (const b of fetched) batch.putBlock(b.cid, b.bytes)
      for (const cid of local) this.#fetched.claim(batch, cid)
      if (batch.length > 0) await batch.write(this.#sync)
    })
  }

  /** Moves a pin job's record and queue entry to a new state. */
  async #settlePin (job: PinJob, state: 'pinning' | 'pinned' | 'failed', error?: string): Promise<PinRecord | undefined> {
    return await this.#exclusive(async () => {
      if (!this.#open) return undefined
      const existing = readPin(this.#db, job.cid)
      // unpinned (or the chain let go) while the job ran: nothing to settle
      if (existing == null || !existing.reasons.includes(job.reason)) return undefined
      const batch = this.#startBatch()
      if (job.reason === 'chain' && job.height != null) {
        // the policy may have moved on while the blocks were fetched
        const pin = state === 'pinned' ? this.#chainPinAt(job.height, this.#head?.height ?? job.height) : 'dag'
        if (pin == null) releaseInBatch(batch, this.#readPin, job.cid, 'chain', true)
        else holdInBatch(batch, this.#readPin, job.cid, 'chain', pin === 'dag', job.height, { state })
      } else {
        holdInBatch(batch, this.#readPin, job.cid, job.reason, job.recursive, undefined, { state, ...(error != null ? { error } : {}) })
      }
      if (state === 'pinned') dequeueInBatch(batch, job.cid)
      else queueInBatch(batch, job, state)
      await batch.write(this.#sync)
      if (state === 'pinned') this.#pinStates.delete(job.cid.toString())
      else this.#pinStates.set(job.cid.toString(), state)
      return readPin(this.#db, job.cid)
    })
  }

  /** Restarts the pin jobs a stop or crash left queued or pinning; failed ones wait for `pin` again. */
  async #resumePins (): Promise<void> {
    for (const { job, state } of await readQueue(this.#db)) {
      this.#pinStates.set(job.cid.toString(), state)
      if (state !== 'failed') void this.#pinQueue.run(job)
    }
  }

  /** Drops the user's hold on a root (cancelling its pin job); other reasons' holds stay. Returns whether the user held it. */
  async unpin (cidInput: CID | string): Promise<boolean> {
    this.#assertOpen()
    const root = parseCid(cidInput)
    await this.#pinQueue.cancel(root)
    return await this.#exclusive(async () => {
      this.#assertOpen()
      const held = readPin(this.#db, root)?.reasons.includes('user') === true
      if (!held) return false
      const batch = this.#startBatch()
      releaseInBatch(batch, this.#readPin, root, 'user', true)
      dequeueInBatch(batch, root)
      await batch.write(this.#sync)
      this.#pinStates.delete(root.toString())
      return true
    })
  }

  /** Pin records; with `state`, only those in it. */
  async * pins (options: { state?: PinState, signal?: AbortSignal } = {}): AsyncGenerator<PinRecord> {
    this.#assertOpen()
    if (options.state == null || options.state === 'pinned') {
      for await (const p of listPins(this.#db, options)) if (options.state == null || p.state === options.state) yield p
      return
    }
    for (const [key, state] of [...this.#pinStates]) {
      options.signal?.throwIfAborted()
      if (state !== options.state) continue
      const record = readPin(this.#db, CID.parse(key))
      if (record != null) yield record
    }
  }

  /** The data dir's size on disk: a walk over its files, cached for 2 s (status is polled every second by the dashboard). */
  async #diskBytes (): Promise<number> {
    if (this.#disk != null && Date.now() - this.#disk.at < 2_000) return await this.#disk.value
    const walk = async (dir: string): Promise<number> => {
      let total = 0
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) total += await walk(path)
        else if (entry.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size
      }
      return total
    }
    this.#disk = { at: Date.now(), value: walk(this.config.dataDir) }
    return await this.#disk.value
  }

  /** Pin records by state: a key scan of the pin records, the rest from the pin queue. */
  async #pinCounts (): Promise<Record<PinState, number>> {
    let total = 0
    for await (const _ of this.#db.keys(prefixRange(Uint8Array.of(PREFIX.PIN)))) total++
    const waiting = this.pinStates()
    return { pinned: total - waiting.queued - waiting.pinning - waiting.failed, ...waiting }
  }

  /** Counts of holds not yet pinned, by state. */
  pinStates (): Record<Exclude<PinState, 'pinned'>, number> {
    const out = { queued: 0, pinning: 0, failed: 0 }
    for (const state of this.#pinStates.values()) if (state !== 'pinned') out[state]++
    return out
  }

  /** Head, cache and disk figures. */
  async status (): Promise<StoreStatus> {
    this.#assertOpen()
    const approximateBytes = await this.#db.approximateSize(new Uint8Array([0]), new Uint8Array([0xff]))
    return {
      dataDir: this.config.dataDir,
      head: this.#head,
      durability: this.config.durability,
      allowGaps: this.config.allowGaps,
      cache: this.#cache.stats(),
      fetchCache: { ...this.#fetched.stats },
      finalized: this.#finalized,
      pins: this.pinStates(),
      approximateBytes,
      diskBytes: await this.#diskBytes(),
      blockstoreBytes: await this.blockstoreBytes(),
      alerts: this.metrics.alerts(),
      latencyMs: this.metrics.latencies(),
      ...(this.replication != null ? { network: this.#networkStatus(this.replication) } : {})
    }
  }

  #networkStatus (r: Replicator): NetworkStatus {
    const tip = r.fold.tip()
    return {
      peerId: r.peerId,
      identity: r.identityId,
      addresses: r.addresses(),
      connectedPeers: new Set(r.libp2p.getConnections().map(c => c.remotePeer.toString())).size,
      indexTip: tip == null ? null : { height: tip.height, cid: tip.cid },
      lag: tip == null ? 0 : Math.max(0, tip.height - (this.#head?.height ?? -1)),
      queued: r.stats.queued,
      stats: { ...r.stats }
    }
  }

  /** Waits for writes in flight, stops Helia and closes LevelDB. Safe to call twice. */
  async stop (): Promise<void> {
    if (!this.#open || this.#stopping) return
    this.#stopping = true
    if (this.#gcTimer != null) clearInterval(this.#gcTimer)
    this.metrics.stop()
    // pin jobs keep their queue entries: the next open resumes them
    await this.#pinQueue.stop()
    // replication first: a sync round in flight may still import into the open store
    await this.replication?.stop()
    this.#open = false
    await this.#writes.idle()
    await this.state?.close()
    await this.#attestationsRoom?.stop()
    await this.helia.stop()
    await this.#db.close()
    this.#log.info('store stopped')
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A height stays a number; a CID becomes the string multiformats caches on it. */
function cacheKey (ref: BlockRef): string | number {
  return typeof ref === 'number' || typeof ref === 'string' ? ref : ref.toString()
}

/** The blocks sublevel's key range in the root keyspace (abstract-level prefixes sublevel keys with `!name!`). */
function blocksRange (): [Uint8Array, Uint8Array] {
  const enc = new TextEncoder()
  return [enc.encode(`!${BLOCKS_SUBLEVEL}!`), enc.encode(`!${BLOCKS_SUBLEVEL}"`)]
}

/** Heights in [from, to] whose pin may change when they become final: those a `finalizedOnly` rule could keep. */
function finalityHeights (policy: PinPolicy, from: number, to: number): number[] {
  const out = new Set<number>()
  for (const rule of policy.rules) {
    if (rule.finalizedOnly !== true) continue
    const step = rule.checkpointEvery ?? 1
    for (let h = Math.ceil(from / step) * step; h <= to; h += step) out.add(h)
  }
  return [...out].sort((a, b) => a - b)
}
